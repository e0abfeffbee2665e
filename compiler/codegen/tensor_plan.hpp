// The tensor kernel's plan, without LLVM: which nodes get buffers and where, which fuse.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/codegen.hpp"

namespace gradc {

/// The numbers of the matrix products' register tiles, and the rules built on them that the
/// plan needs too (a column sum rides on a product only if it packs, an epilogue only on the
/// plain path). From the TargetInfo the JIT fills in: only performance depends on them.
struct TileRules {
  static constexpr std::int64_t kTileRows = 4;
  static constexpr std::int64_t kMaxTileRows = 16;
  static constexpr std::int64_t kSplit = 4;  // partial sums of split_sum
  static constexpr std::int64_t kSplitMinTerms = 64;
  // Below this many multiply-adds, splitting a product over the threads loses more to the
  // hand-off than it gains (bench/choices.md, "Threads").
  static constexpr std::int64_t kParallelMacs = std::int64_t(1) << 20;
  // matmul_tiles packs B's column strip when B's rows are at least this far apart, and the
  // strip is at most kPackMaxBytes (it then stays in L2).
  static constexpr std::int64_t kPackStrideBytes = 4096, kPackMaxBytes = 1 << 20;
  // A packed strip longer than this is walked in blocks of k of about this size, every block of
  // rows over one block of k before the next: the block stays in L1 (48 KiB on the AVX-512
  // hosts) between blocks of rows. B's rows are then packed whatever their stride, when two
  // blocks of rows or more reuse them and the strip is narrower than B (bench/choices.md,
  // "Blocks of k").
  static constexpr std::int64_t kBlockBytes = 16 << 10;
  // LLVM's TinyTripCountVectorThreshold: shorter loops are vectorized only by predication.
  static constexpr std::int64_t kTinyTrip = 16;

  std::int64_t elem_bytes = 8;
  std::int64_t lanes = 4;          // elements per vector register
  std::int64_t accumulators = 8;   // vector registers for the block of C
  std::int64_t tile_cols = 16;     // columns of a register tile
  unsigned threads = 1;

  static TileRules for_target(const TargetInfo& target, DType dtype);

  struct Geometry {
    std::int64_t rows, widest;
  };
  /// The block of rows and the widest column tile of matmul_tiles for C of m x p.
  Geometry tile_geometry(std::int64_t m, std::int64_t p) const;
  /// Whether matmul_tiles packs B's column strips, for B's rows b_row_stride apart; with
  /// computed_b (B is computed as it is packed) whatever the stride. Outside part functions.
  bool packs(std::int64_t m, std::int64_t kk, std::int64_t p, std::int64_t b_row_stride, bool computed_b) const;
  /// The rows of k per block of a packed strip of `width` columns: kk when it fits kBlockBytes.
  std::int64_t k_block(std::int64_t kk, std::int64_t width) const;
  /// Whether a product on matmul_tiles' plain path is split over the threads.
  bool parallel(std::int64_t m, std::int64_t kk, std::int64_t p) const;
  /// Whether split_sum pays for an output of rows x cols summing kk terms each.
  bool splits_sum(std::int64_t rows, std::int64_t cols, std::int64_t kk) const;
};

/// Workspace offsets (in elements): first fit over the free intervals, each block rounded up
/// to kBufferAlignBytes, growing at the top. The plan places the nodes' buffers with it; the
/// code generator replays them and adds its temporaries (released within the step that takes
/// them, so they never move a node's buffer, only the final size).
class Workspace {
 public:
  explicit Workspace(std::int64_t elem_bytes);
  /// Throws LimitError past kMaxWorkspaceBytes.
  std::int64_t allocate(std::int64_t size);
  void release(std::int64_t off, std::int64_t size);
  std::int64_t top() const { return top_; }  // elements in use at the peak

 private:
  std::int64_t elem_bytes_, align_elems_;
  std::vector<std::pair<std::int64_t, std::int64_t>> free_;  // (offset, length), sorted
  std::int64_t top_ = 0;
};

/// Where a node's value lives.
enum class Place : std::uint8_t {
  Scalar,     // rank 0: a value in a register
  Input,      // its slice of `in`
  Constant,   // a Tensor constant: a private constant global
  Output,     // materialized in its first slot of `out`
  Workspace,  // materialized in the workspace
  View,       // a strided view of another node's buffer (base)
  Fused,      // computed where it is read, in its consumers' loops
};

/// Why: the rule that decided the place.
enum class Why : std::uint8_t {
  Rank0,          // a scalar
  Input,          // a kernel input
  Constant,       // a tensor literal
  OwnLoop,        // a matrix product, reduction, embed or one-hot: a loop nest of its own
  Output,         // an elementwise node that is an output
  Shared,         // evaluated at more than one place (counting through the views over it)
  Repeated,       // read through a broadcast that repeats it, or by an outer product
  MatmulOperand,  // a matrix product's operand
  Epilogue,       // a product computed into its elementwise reader's buffer, tile by tile
  Packed,         // a product's elementwise B, computed as the product packs it
  StridedView,    // an index map over a buffer: strides, no copy
  IndexMap,       // an index map over a fused expression, or a reshape needing divisions
  SingleUse,      // an elementwise node read at one place: fused into its reader's loop
  OuterProduct,   // a matrix product over an inner dimension of 1, fused like an elementwise op
};

const char* place_name(Place p);
const char* why_name(Why w);

struct NodePlan {
  Place place = Place::Fused;
  Why why = Why::SingleUse;
  // Input, Output, Workspace, View: the element offset in in, out or the workspace (a view's
  // in its base's); strides per axis (a broadcast axis has stride 0).
  std::int64_t offset = 0;
  std::array<std::int64_t, Shape::kMaxRank> stride{0, 0, 0};
  std::int32_t base = -1;  // View: the position of the node that owns the buffer

  int out_count = 0;            // how many output slots show this node
  std::int64_t first_out = -1;  // offset of the first one in `out`
  std::int64_t sites = 0;       // evaluations per element (through views)
  bool repeated = false;        // read through a Broadcast that repeats it
  bool matmul_operand = false;  // a matrix product's operand (through views)
  std::size_t eval_pos = 0;     // the step whose code reads this node's value
  std::size_t last_use = 0;     // the last step that reads this node's buffer (order.size(): the outputs)
  const Node* epilogue_of = nullptr;  // a matrix product this node finishes
  // Column sums that ride on a product: on the sum, the product that fills its buffer; on
  // the product, the sum and whether it sums the negated operand.
  const Node* summed_by = nullptr;
  const Node* column_sum = nullptr;
  bool negated_sum = false;
  bool packed = false;  // an elementwise B computed as its product packs it (not buffered)

  bool materialized() const { return place == Place::Output || place == Place::Workspace; }
};

/// The plan of a tensor kernel (see plan_tensor_kernel).
struct TensorPlan {
  std::vector<const Node*> order;  // topological: the steps
  std::unordered_map<const Node*, std::size_t> pos;
  std::unordered_map<const Node*, const Node*> relu_of;  // x -> relu(x)
  std::vector<NodePlan> nodes;                           // by position in order
  std::unordered_map<const Node*, std::int64_t> input_offset;
  std::vector<std::int64_t> out_offset;  // per output slot
  std::int64_t workspace_elems = 0;      // the nodes' buffers at their peak (before temporaries)
  std::int64_t elem_bytes = 8;

  const NodePlan& at(const Node* n) const { return nodes[pos.at(n)]; }
  /// Operand i of n as the kernel reads it: n's own, except that step(x) reads relu(x) when
  /// the kernel computes that first (the two have the same sign).
  const Node* operand(const Node* n, int i) const;
};

/// Decides, for each node of spec's outputs' graph, where its value lives (see the rules in
/// tensor_plan.cpp). Throws std::logic_error for a variable that is not an input, LimitError
/// for a workspace over kMaxWorkspaceBytes.
TensorPlan plan_tensor_kernel(const KernelSpec& spec, const TileRules& rules);

/// The plan as text (`gradc emit --stage plan`): the IR listing of spec's outputs (labels as
/// in print_listing), each node followed by its place and the rule that chose it.
std::string format_plan(const TensorPlan& plan, const KernelSpec& spec, std::span<const std::string> labels);

}  // namespace gradc
