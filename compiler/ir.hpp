// The IR: an immutable, hash-consed DAG of scalar operations. A Graph owns its nodes; identical
// (op, arguments, constant, name) means the same node, so equality is pointer equality and
// shared subexpressions exist once. Arguments are always created before their users, so a
// node's id is a topological index: passes iterate ids instead of recursing.
#pragma once
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compiler/ops.hpp"

namespace gradc {

struct Node {
  Op op;
  std::uint8_t nargs = 0;
  bool everywhere_defined = true;  // see OpInfo::everywhere_defined, for the whole subgraph
  std::uint32_t id = 0;            // creation order; args have smaller ids
  const Node* args[2] = {nullptr, nullptr};
  double value = 0;  // Const
  std::string name;  // Var

  const Node* arg(int i) const { return args[i]; }
  bool is_const() const { return op == Op::Const; }
  bool is_const(double v) const { return op == Op::Const && value == v; }
  const OpInfo& info() const { return op_info(op); }
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// The unique node op(args). Checks arity; does not simplify (see Builder).
  const Node* make(Op op, std::span<const Node* const> args);
  const Node* constant(double v);
  const Node* var(std::string_view name);

  std::size_t size() const { return nodes_.size(); }
  const Node* node(std::uint32_t id) const { return &nodes_[id]; }

 private:
  struct Key {
    Op op;
    const Node* a;
    const Node* b;
    std::uint64_t bits;
    std::string_view name;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  const Node* intern(Node node);

  std::deque<Node> nodes_;
  std::unordered_map<Key, const Node*, KeyHash> table_;
};

/// Every node reachable from roots, in increasing id (topological) order. Iterative.
std::vector<const Node*> reachable(std::span<const Node* const> roots);

/// Number of distinct nodes reachable from roots (the DAG size).
std::size_t dag_size(std::span<const Node* const> roots);

/// Size of the roots written out as trees, saturating at UINT64_MAX.
std::uint64_t tree_size(std::span<const Node* const> roots);

}  // namespace gradc
