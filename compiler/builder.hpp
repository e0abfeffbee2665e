// Checked, simplifying constructors for IR nodes. Every pass builds through a Builder, so
// constant folding, algebraic identities and constant collection happen as nodes are made
// (Halide's "make" style); hash-consing in the Graph gives CSE.
#pragma once
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "compiler/ir.hpp"

namespace gradc {

/// How much a Builder rewrites.
///  None: hash-consing only (the IR exactly as built).
///  Fold: also constant folding and identities that drop an operation (x + 0, x*1, x*0 where
///        safe, --x, x/1, x^1, x^0, 1^x); the structure the user wrote, and the nodes their
///        names refer to, are kept. Lowering uses this level.
///  Full: also canonical forms: constants first in + and *, constant factors collected, x*(p/q)
///        = x*p/q, negations pushed into constants and subtractions. Differentiation uses this.
enum class Simplify { None, Fold, Full };

class Builder {
 public:
  explicit Builder(Graph& g, Simplify level = Simplify::Full) : g_(g), level_(level) {}
  Builder(Graph& g, bool simplify) : Builder(g, simplify ? Simplify::Full : Simplify::None) {}

  Graph& graph() { return g_; }
  Simplify level() const { return level_; }

  const Node* constant(double v) { return g_.constant(v); }
  const Node* var(std::string_view name, const Shape& s = {}) { return g_.var(name, s); }

  /// op(args) after the rewrite rules (when simplifying). Operands of an elementwise op are
  /// broadcast to their common shape first (NumPy rules; ShapeError if there is none).
  const Node* apply(Op op, std::span<const Node* const> args, const Attrs& attrs = {});
  const Node* apply(Op op, std::initializer_list<const Node*> args, const Attrs& attrs = {}) {
    return apply(op, std::span<const Node* const>(args.begin(), args.size()), attrs);
  }

  const Node* add(const Node* a, const Node* b) { return apply(Op::Add, {a, b}); }
  const Node* sub(const Node* a, const Node* b) { return apply(Op::Sub, {a, b}); }
  const Node* mul(const Node* a, const Node* b) { return apply(Op::Mul, {a, b}); }
  const Node* div(const Node* a, const Node* b) { return apply(Op::Div, {a, b}); }
  const Node* pow(const Node* a, const Node* b) { return apply(Op::Pow, {a, b}); }
  const Node* neg(const Node* a) { return apply(Op::Neg, {a}); }
  const Node* call(Op op, const Node* a) { return apply(op, {a}); }
  const Node* mul(double c, const Node* a) { return mul(constant(c), a); }
  const Node* add(double c, const Node* a) { return add(constant(c), a); }
  const Node* sub(double c, const Node* a) { return sub(constant(c), a); }

  // Tensor ops.
  const Node* broadcast_to(const Node* x, const Shape& s);  // x itself when it has shape s
  const Node* sum_to(const Node* g, const Shape& s);        // the adjoint of broadcast_to
  const Node* reshape(const Node* x, const Shape& s);       // x itself when it has shape s
  const Node* sum(const Node* x, int axis);                 // axis -1: every element
  const Node* reduce_max(const Node* x, int axis);
  /// g (the shape of a reduction of `shape` over axis) broadcast back to `shape`.
  const Node* unreduce(const Node* g, const Shape& shape, int axis);
  const Node* matmul(const Node* a, const Node* b);  // matrices, or stacks of them (rank 3)
  const Node* transpose(const Node* x);              // the last two axes swapped (each matrix's X^T)
  /// Axis d of the result is axis perm[d] of x (NumPy's transpose(x, axes)); x itself for the
  /// identity. Throws ShapeError when perm is not a permutation of x's axes.
  const Node* permute(const Node* x, std::span<const int> perm);
  const Node* index(const Node* x, int axis, int i);
  const Node* embed(const Node* x, int axis, int i, const Shape& shape);
  /// Elements start .. start + len - 1 of x along axis (x itself when that is all of them).
  const Node* slice(const Node* x, int axis, int start, int len);
  /// x placed at start along axis of zeros of `shape` (x itself when it fills it).
  const Node* pad(const Node* x, int axis, int start, const Shape& shape);
  /// NumPy's concatenate: the operands joined along an existing axis (a sum of pads); shapes
  /// must agree off that axis, else ShapeError. At least one operand.
  const Node* concatenate(std::span<const Node* const> xs, int axis);
  /// NumPy's stack: operands of one shape joined along a new axis (0 <= axis <= rank); also
  /// the `[a, b]` of non-constant elements.
  const Node* stack(std::span<const Node* const> xs, int axis);
  /// xs (one shape, rank < Shape::kMaxRank) stacked along a new axis 0, as np.stack(xs).
  const Node* stack_new_axis(std::span<const Node* const> xs);
 private:
  const Node* rewrite(Op op, const Node* a, const Node* b);
  const Node* splat(double v, const Shape& s);  // the constant v with shape s
  const Node* index_through(const Node* x, int axis, int i, int& budget);
  const Node* structural(Op op, std::span<const Node* const> args, const Attrs& attrs);
  const Node* literal(Op op, const Node* x, const Attrs& attrs);
  Graph& g_;
  Simplify level_;
};

/// Rebuilds roots through a Builder at `level` (a memoizing graph mutator: sharing is kept).
std::vector<const Node*> simplify(Graph& g, std::span<const Node* const> roots,
                                  Simplify level = Simplify::Full);

}  // namespace gradc
