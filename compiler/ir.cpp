// Hash-consed node storage and whole-graph queries.
#include "compiler/ir.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace gradc {

Shape::Shape(std::initializer_list<std::int32_t> d) {
  if (d.size() > kMaxRank) throw ShapeError(fmt::format("rank {} exceeds the maximum of {}", d.size(), kMaxRank));
  for (std::int32_t x : d) dims[rank++] = x;
  size();
}

std::int64_t Shape::size() const {
  std::int64_t n = 1;
  for (int d = 0; d < rank; ++d)
    if (__builtin_mul_overflow(n, std::int64_t(dims[d]), &n))
      throw ShapeError(fmt::format("shape {} has more than {} elements", str(), std::numeric_limits<std::int64_t>::max()));
  return n;
}

Shape Shape::of(std::span<const std::int64_t> d) {
  if (d.size() > kMaxRank) throw ShapeError(fmt::format("rank {} exceeds the maximum of {}", d.size(), kMaxRank));
  Shape s;
  for (std::int64_t x : d) {
    if (x < 1 || x > (1 << 30)) throw ShapeError(fmt::format("dimension {} is out of range", x));
    s.dims[s.rank++] = static_cast<std::int32_t>(x);
  }
  s.size();
  return s;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += fmt::format("{}{}", i ? ", " : "", dims[i]);
  return s + "]";
}

Shape Shape::without(int axis) const {
  Shape s;
  for (int i = 0; i < rank; ++i)
    if (i != axis) s.dims[s.rank++] = dims[i];
  return s;
}

Shape Shape::with_one(int axis) const {
  Shape s = *this;
  s.dims[axis] = 1;
  return s;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  if (a == b) return a;
  Shape out;
  out.rank = std::max(a.rank, b.rank);
  for (int i = 0; i < out.rank; ++i) {
    // Align from the right.
    int ia = i - (out.rank - a.rank), ib = i - (out.rank - b.rank);
    std::int32_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(fmt::format("shapes {} and {} cannot be broadcast together", a.str(), b.str()));
    out.dims[i] = std::max(da, db);
  }
  out.size();
  return out;
}

namespace {

// The result shape of op(args) with attrs, or throws ShapeError: elementwise ops keep their
// operands' (equal) shape, tensor ops have a rule in their row.
Shape infer_shape(Op op, std::span<const Node* const> args, const Attrs& at) {
  const OpInfo& info = op_info(op);
  if (info.elementwise) {
    for (const Node* a : args)
      if (!(a->shape == args[0]->shape))
        throw ShapeError(fmt::format("shapes {} and {} do not match", args[0]->shape.str(), a->shape.str()));
    return args[0]->shape;
  }
  return info.shape(args.data(), at);
}

}  // namespace

std::uint64_t Graph::hash(const Key& k) {
  std::uint64_t h = static_cast<std::uint64_t>(k.op);
  // Linear probing uses the low bits, so every word is multiplied in (a murmur-style mix), not
  // just xor-combined.
  auto mix = [&h](std::uint64_t v) {
    v *= 0x9e3779b97f4a7c15ULL;
    v ^= v >> 32;
    h = (h ^ v) * 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
  };
  mix(reinterpret_cast<std::uintptr_t>(k.a));
  mix(reinterpret_cast<std::uintptr_t>(k.b));
  mix(k.bits);
  if (!k.name.empty()) mix(std::hash<std::string_view>()(k.name));
  mix(static_cast<std::uint64_t>(k.shape.rank) | static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.shape.dims[0])) << 8);
  mix(static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.shape.dims[1])) |
      static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.shape.dims[2])) << 32);
  mix(static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.axis)) |
      static_cast<std::uint64_t>(static_cast<std::uint32_t>(k.index)) << 32);
  mix(reinterpret_cast<std::uintptr_t>(k.data) ^ static_cast<std::uint64_t>(k.dtype));
  return h;
}

Graph::Key Graph::key_of(const Node& n) {
  return Key{n.op,    n.args[0], n.args[1], std::bit_cast<std::uint64_t>(n.value), n.name,
             n.shape, n.axis,    n.index,   n.data.get(), n.dtype};
}

void Graph::grow() {
  std::vector<Slot> old(std::max<std::size_t>(slots_.size() * 2, 1024));
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.node) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].node) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

NodeLimitError::NodeLimitError(std::size_t limit)
    : InputError(Loc{}, fmt::format("this program needs more than {} IR nodes", limit)) {}

const Node* Graph::intern(Node node) {
  if (2 * (nodes_.size() + 1) > slots_.size()) grow();
  const Key key = key_of(node);
  const std::uint64_t h = hash(key);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  for (; slots_[i].node; i = (i + 1) & mask)
    if (slots_[i].hash == h && key_of(*slots_[i].node) == key) return slots_[i].node;
  if (nodes_.size() >= max_nodes_) throw NodeLimitError(max_nodes_);
  node.id = static_cast<std::uint32_t>(nodes_.size());
  const Node& stored = nodes_.emplace_back(std::move(node));
  slots_[i] = Slot{h, &stored};
  return &stored;
}

const Node* Graph::make(Op op, std::span<const Node* const> args, const Attrs& attrs) {
  const OpInfo& info = op_info(op);
  if (info.syntax == Syntax::Leaf || static_cast<int>(args.size()) != info.arity)
    throw std::logic_error("Graph::make: bad arity for op '" + std::string(info.name) + "'");
  for (const Node* a : args)
    if (a == nullptr) throw std::logic_error("Graph::make: null argument");
  Node n;
  n.op = op;
  n.shape = infer_shape(op, args, attrs);
  n.shape.size();  // a result of more than INT64_MAX elements is a ShapeError
  if (info.uses_axis) n.axis = attrs.axis;
  if (info.uses_index) n.index = attrs.index;
  n.nargs = static_cast<std::uint8_t>(args.size());
  n.everywhere_defined = info.everywhere_defined;
  n.selects = op == Op::Step || op == Op::Sign || op == Op::Mask;
  n.literal = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    n.args[i] = args[i];
    n.everywhere_defined = n.everywhere_defined && args[i]->everywhere_defined;
    n.selects = n.selects || args[i]->selects;
    if (args[i]->literal) continue;
    if (!n.literal && args[i]->dtype != n.dtype)
      throw std::logic_error(fmt::format("Graph::make: '{}' of {} and {} values", info.name, dtype_str(n.dtype),
                                         dtype_str(args[i]->dtype)));
    n.literal = false;
    n.dtype = args[i]->dtype;
  }
  return intern(std::move(n));
}

const Node* Graph::constant(double v) { return constant(v, ""); }

const Node* Graph::constant(double v, std::string_view name) {
  Node n;
  n.op = Op::Const;
  n.value = v;
  n.name = std::string(name);
  n.everywhere_defined = std::isfinite(v);
  n.literal = true;
  return intern(std::move(n));
}

const Node* Graph::var(std::string_view name, const Shape& shape, DType dtype) {
  Node n;
  n.op = Op::Var;
  n.name = std::string(name);
  n.shape = shape;
  n.dtype = dtype;
  return intern(std::move(n));
}

const Node* Graph::tensor(const Shape& shape, std::vector<double> data) {
  if (static_cast<std::int64_t>(data.size()) != shape.size())
    throw ShapeError(fmt::format("{} values do not fill shape {}", data.size(), shape.str()));
  // The key compares bits, so -0 and 0 stay apart (as for constants) and a nan matches itself.
  std::uint64_t h = 0xcbf29ce484222325ULL ^ (std::uint64_t(shape.rank) << 32);
  for (int d = 0; d < shape.rank; ++d) h = (h ^ static_cast<std::uint32_t>(shape[d])) * 0x100000001b3ULL;
  for (double v : data) h = (h ^ std::bit_cast<std::uint64_t>(v)) * 0x100000001b3ULL;
  auto same = [&](const Node* t) {
    return t->shape == shape && std::equal(data.begin(), data.end(), t->data->begin(), [](double a, double b) {
             return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
           });
  };
  for (auto [it, end] = tensors_.equal_range(h); it != end; ++it)
    if (same(it->second)) return it->second;
  Node n;
  n.op = Op::Tensor;
  n.shape = shape;
  for (double v : data) n.everywhere_defined = n.everywhere_defined && std::isfinite(v);
  // A 0 in constant data may be an element masked out (tril's and diag's 0/1 patterns): like
  // a step's 0, it must cut an infinite partial out, not multiply it (ops.cpp, `times`).
  n.selects = std::find(data.begin(), data.end(), 0.0) != data.end();
  n.data = std::make_shared<const std::vector<double>>(std::move(data));
  n.literal = true;
  const Node* t = intern(std::move(n));
  tensors_.emplace(h, t);
  return t;
}

const char* dtype_str(DType t) { return t == DType::F32 ? "f32" : "f64"; }

std::vector<const Node*> retype(Graph& g, std::span<const Node* const> roots, DType t) {
  std::unordered_map<const Node*, const Node*> map;
  for (const Node* n : reachable(roots)) {
    if (n->op == Op::Var) {
      map[n] = g.var(n->name, n->shape, t);
    } else if (n->nargs == 0) {
      map[n] = n;
    } else {
      const Node* args[2] = {map.at(n->arg(0)), n->nargs > 1 ? map.at(n->arg(1)) : nullptr};
      map[n] = g.make(n->op, std::span<const Node* const>(args, n->nargs), n->attrs());
    }
  }
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(map.at(r));
  return out;
}

std::vector<const Node*> reachable(std::span<const Node* const> roots) {
  std::vector<const Node*> out;
  if (roots.empty()) return out;
  // Arguments have smaller ids than their users: every node reached has an id at most the
  // largest root's, so a bit per id up to it is the set of nodes seen (a hash set of pointers
  // was most of this walk).
  std::uint32_t top = 0;
  for (const Node* r : roots) top = std::max(top, r->id);
  std::vector<std::uint64_t> seen(top / 64 + 1, 0);
  std::vector<const Node*> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    std::uint64_t& word = seen[n->id / 64];
    const std::uint64_t bit = std::uint64_t(1) << (n->id % 64);
    if (word & bit) continue;
    word |= bit;
    out.push_back(n);
    for (int i = 0; i < n->nargs; ++i) stack.push_back(n->arg(i));
  }
  if (out.empty()) return out;
  auto [lo, hi] = std::minmax_element(out.begin(), out.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
  const std::size_t range = (*hi)->id - (*lo)->id + 1;
  if (range > 4 * out.size()) {
    std::sort(out.begin(), out.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
    return out;
  }
  // Ids close together (a function's nodes, its derivatives): placed by id in one pass.
  std::vector<const Node*> by_id(range, nullptr);
  const std::uint32_t first = (*lo)->id;
  for (const Node* n : out) by_id[n->id - first] = n;
  std::size_t k = 0;
  for (const Node* n : by_id)
    if (n) out[k++] = n;
  return out;
}

OrderIndex::OrderIndex(std::span<const Node* const> order) {
  if (order.empty()) return;
  first_ = order.front()->id;
  pos_.assign(order.back()->id - first_ + 1, kNone);
  for (std::uint32_t i = 0; i < order.size(); ++i) pos_[order[i]->id - first_] = i;
}

std::size_t dag_size(std::span<const Node* const> roots) { return reachable(roots).size(); }

std::uint64_t tree_size(std::span<const Node* const> roots) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  auto sat_add = [](std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; };
  std::unordered_map<const Node*, std::uint64_t> size;
  for (const Node* n : reachable(roots)) {
    std::uint64_t s = 1;
    for (int i = 0; i < n->nargs; ++i) s = sat_add(s, size[n->arg(i)]);
    size[n] = s;
  }
  std::uint64_t total = 0;
  for (const Node* r : roots) total = sat_add(total, size[r]);
  return total;
}

}  // namespace gradc
