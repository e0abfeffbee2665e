// The IR: an immutable, hash-consed DAG of scalar operations. A Graph owns its nodes; identical
// (op, arguments, constant, name) means the same node, so equality is pointer equality and
// shared subexpressions exist once. Arguments are always created before their users, so a
// node's id is a topological index: passes iterate ids instead of recursing.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ops.hpp"
#include "support/diagnostics.hpp"

namespace gradc {

/// Element types. Variables carry one (f64 unless made otherwise); every computed node has its
/// operands' type; literals (constants, tensor data) are f64 and take the type of what they
/// meet, as Python scalars do in JAX. Graphs are built in f64, and `retype` makes the f32 twin
/// that `--dtype f32` compiles. The reference interpreter computes in double whatever the type.
enum class DType : std::uint8_t { F64, F32 };
const char* dtype_str(DType t);  // "f64", "f32"

/// A static tensor shape, row-major: rank 0 (a scalar) to kMaxRank. Unused dims are 1.
struct Shape {
  static constexpr int kMaxRank = 3;
  std::uint8_t rank = 0;
  std::array<std::int32_t, kMaxRank> dims{1, 1, 1};

  Shape() = default;
  Shape(std::initializer_list<std::int32_t> d);
  static Shape of(std::span<const std::int64_t> d);  // throws std::invalid_argument past kMaxRank

  std::int32_t operator[](int i) const { return dims[i]; }
  /// The number of elements: the one checked product of the dims. Throws ShapeError past
  /// INT64_MAX, which of(), the constructor and every node's result shape are checked against,
  /// so a shape in the graph always has a size.
  std::int64_t size() const;
  bool scalar() const { return rank == 0; }
  bool operator==(const Shape&) const = default;
  std::string str() const;  // "[2, 8]", "[]" for a scalar

  Shape without(int axis) const;      // the axis removed (a reduction)
  Shape with_one(int axis) const;     // the axis kept with size 1 (keepdims)
};

/// NumPy broadcasting: the common shape of a and b, or throws ShapeError.
Shape broadcast_shapes(const Shape& a, const Shape& b);

/// Shapes that do not fit an operation. The message names both shapes.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// Op attributes beyond the arguments: the result shape of Broadcast/Reshape/Embed, the axis of
/// Sum/ReduceMax/Index/Embed (-1 = every axis, for reductions), the index of Index/Embed, the
/// class count of OneHot.
struct Attrs {
  Shape shape;
  std::int32_t axis = 0;
  std::int32_t index = 0;
};

struct Node {
  Op op;
  std::uint8_t nargs = 0;
  bool everywhere_defined = true;  // see OpInfo::everywhere_defined, for the whole subgraph
  bool selects = false;            // the subgraph holds a step, sign or mask: an exact 0 may be a branch not taken
  std::uint32_t id = 0;            // creation order; args have smaller ids
  const Node* args[2] = {nullptr, nullptr};
  Shape shape;                     // the result's shape
  std::int32_t axis = 0;           // attributes, see Attrs
  std::int32_t index = 0;
  DType dtype = DType::F64;        // see DType
  bool literal = false;            // built from constants and tensor data only
  double value = 0;                // Const
  std::string name;                // Var; a named Const (pi, e)
  std::shared_ptr<const std::vector<double>> data;  // Tensor: shape.size() values, row-major

  const Node* arg(int i) const { return args[i]; }
  bool is_const() const { return op == Op::Const; }
  bool is_const(double v) const { return op == Op::Const && value == v; }
  const OpInfo& info() const { return op_info(op); }
  Attrs attrs() const { return Attrs{shape, axis, index}; }
};

/// A graph past Graph::kMaxNodes: an input error (the program is too large), which lowering
/// locates at the call or expression that needed the node.
struct NodeLimitError : InputError {
  explicit NodeLimitError(std::size_t limit);
};

class Graph {
 public:
  /// At most this many nodes (about 250 bytes each with the hash-consing table: ~500 MB).
  static constexpr std::size_t kMaxNodes = std::size_t(1) << 21;
  explicit Graph(std::size_t max_nodes) : max_nodes_(max_nodes) {}

  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// The unique node op(args). Checks arity and shapes (throws ShapeError) and infers the
  /// result shape; does not simplify (see Builder).
  const Node* make(Op op, std::span<const Node* const> args, const Attrs& attrs = {});
  const Node* constant(double v);
  /// A mathematical constant that keeps its name for printing (`pi`, `e`): a Const of value v
  /// to everything else.
  const Node* constant(double v, std::string_view name);
  const Node* var(std::string_view name, const Shape& shape = {}, DType dtype = DType::F64);
  /// Constant tensor data. Hash-consed by content: equal shapes and bitwise-equal values give
  /// the same node, so a literal written twice is one node, as a constant is.
  const Node* tensor(const Shape& shape, std::vector<double> data);

  std::size_t size() const { return nodes_.size(); }
  const Node* node(std::uint32_t id) const { return &nodes_[id]; }

 private:
  struct Key {
    Op op;
    const Node* a;
    const Node* b;
    std::uint64_t bits;
    std::string_view name;
    Shape shape;
    std::int32_t axis, index;
    const void* data;
    DType dtype;
    bool operator==(const Key&) const = default;
  };
  static std::uint64_t hash(const Key& k);
  static Key key_of(const Node& n);
  const Node* intern(Node node);
  void grow();

  std::size_t max_nodes_ = kMaxNodes;
  std::deque<Node> nodes_;
  // Hash-consing table, open addressing with linear probing: a flat array of (hash, node) slots,
  // a power of two long and at most half full. One probe is one cache line and no allocation
  // per node (a std::unordered_map was a fifth of a 120,000-term compile).
  struct Slot {
    std::uint64_t hash = 0;
    const Node* node = nullptr;
  };
  std::vector<Slot> slots_;
  std::unordered_multimap<std::uint64_t, const Node*> tensors_;  // Tensor nodes by content hash
};

/// The roots with every variable replaced by one of element type t (same name and shape), and
/// every node above them rebuilt as it is (no rewriting): the same computation in t.
std::vector<const Node*> retype(Graph& g, std::span<const Node* const> roots, DType t);

/// Every node reachable from roots (nodes of one graph), in increasing id (topological) order.
/// Iterative.
std::vector<const Node*> reachable(std::span<const Node* const> roots);

/// The positions of the nodes of a list in increasing id order (reachable's): a table over the
/// range of their ids, so a pass over the list keeps per-node data in vectors, not hash maps.
class OrderIndex {
 public:
  static constexpr std::uint32_t kNone = ~std::uint32_t(0);
  explicit OrderIndex(std::span<const Node* const> order);
  /// n's position in the list, or kNone.
  std::uint32_t operator()(const Node* n) const {
    std::uint32_t at = n->id - first_;
    return n->id >= first_ && at < pos_.size() ? pos_[at] : kNone;
  }

 private:
  std::uint32_t first_ = 0;
  std::vector<std::uint32_t> pos_;
};

/// A map keyed by node for data kept beside a graph (a function's source locations): the entries
/// in one vector, in insertion order, and an open-addressing index of them (a std::unordered_map
/// allocated a node per entry, 5% of lowering a 120,000-term expression).
template <class V>
class NodeMap {
 public:
  using value_type = std::pair<const Node*, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::size_t count(const Node* n) const { return find(n) != end(); }
  void clear() {
    entries_.clear();
    index_.clear();
  }

  iterator find(const Node* n) {
    std::uint32_t e = lookup(n);
    return e == kEmpty ? end() : entries_.begin() + e;
  }
  const_iterator find(const Node* n) const {
    std::uint32_t e = lookup(n);
    return e == kEmpty ? end() : entries_.begin() + e;
  }
  /// Inserts (n, v) unless n is there; the entry and whether it was inserted.
  std::pair<iterator, bool> try_emplace(const Node* n, V v) {
    if (2 * (entries_.size() + 1) > index_.size()) grow();
    const std::size_t mask = index_.size() - 1;
    std::size_t i = slot(n) & mask;
    for (; index_[i] != kEmpty; i = (i + 1) & mask)
      if (entries_[index_[i]].first == n) return {entries_.begin() + index_[i], false};
    index_[i] = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back(n, std::move(v));
    return {entries_.end() - 1, true};
  }

 private:
  static constexpr std::uint32_t kEmpty = ~std::uint32_t(0);
  static std::size_t slot(const Node* n) {
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(n) >> 3) * 0x9E3779B97F4A7C15ull >> 20);
  }
  std::uint32_t lookup(const Node* n) const {
    if (index_.empty()) return kEmpty;
    const std::size_t mask = index_.size() - 1;
    for (std::size_t i = slot(n) & mask; index_[i] != kEmpty; i = (i + 1) & mask)
      if (entries_[index_[i]].first == n) return index_[i];
    return kEmpty;
  }
  void grow() {
    index_.assign(std::max<std::size_t>(16, 2 * index_.size()), kEmpty);
    const std::size_t mask = index_.size() - 1;
    for (std::uint32_t e = 0; e < entries_.size(); ++e) {
      std::size_t i = slot(entries_[e].first) & mask;
      while (index_[i] != kEmpty) i = (i + 1) & mask;
      index_[i] = e;
    }
  }
  std::vector<value_type> entries_;
  std::vector<std::uint32_t> index_;
};

/// Number of distinct nodes reachable from roots (the DAG size).
std::size_t dag_size(std::span<const Node* const> roots);

/// Size of the roots written out as trees, saturating at UINT64_MAX.
std::uint64_t tree_size(std::span<const Node* const> roots);

}  // namespace gradc
