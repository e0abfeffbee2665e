// The IR listing (`gradc emit --stage ir`): one line per node, `%3 = mul %1, %2 : [2, 3]`.
#include <fmt/format.h>

#include <cctype>

#include "compiler/ops_tensor.hpp"
#include "compiler/print.hpp"

namespace gradc {

std::string print_listing(std::span<const Node* const> roots, std::span<const std::string> labels,
                          const std::unordered_map<const Node*, std::string>* names) {
  std::unordered_map<const Node*, std::size_t> num;
  std::string out;
  for (const Node* n : reachable(roots)) {
    std::size_t k = num.size();
    num[n] = k;
    std::string rhs;
    switch (n->op) {
      case Op::Const: rhs = fmt::format("const {}", print_number(n->value, Format::Text)); break;
      case Op::Var: rhs = fmt::format("var {}", n->name); break;
      case Op::Tensor: rhs = "tensor"; break;
      default: {
        std::string op = op_id(n->op);
        for (char& c : op) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        rhs = op;
        for (int i = 0; i < n->nargs; ++i) rhs += fmt::format("{}%{}", i ? ", " : " ", num.at(n->arg(i)));
        // Attributes of the tensor ops.
        switch (n->op) {
          case Op::Sum: case Op::ReduceMax:
            rhs += n->axis < 0 ? ", all" : fmt::format(", axis {}", n->axis);
            break;
          case Op::Index: case Op::Embed:
            rhs += fmt::format(", axis {}, index {}", n->axis, n->index);
            break;
          case Op::OneHot:
            rhs += fmt::format(", classes {}", n->index);
            break;
          case Op::Slice: case Op::Pad:
            rhs += fmt::format(", axis {}, start {}", n->axis, n->index);
            break;
          case Op::Transpose:
            if (n->axis) rhs += fmt::format(", axes {}", tensor_ops::axes_text(n));
            break;
          default:
            break;
        }
      }
    }
    // The type: the shape, with the element type unless it is f64 (the default).
    std::string type = n->dtype == DType::F64 ? "" : dtype_str(n->dtype);
    if (!n->shape.scalar()) type += n->shape.str();
    if (!type.empty()) rhs += " : " + type;
    std::string line = fmt::format("%{} = {}", k, rhs);
    if (names)
      if (auto it = names->find(n); it != names->end()) line = fmt::format("{:<28}# {}", line, it->second);
    out += line + "\n";
  }
  for (std::size_t i = 0; i < roots.size(); ++i)
    out += fmt::format("out {} = %{}\n", i < labels.size() ? labels[i] : std::to_string(i), num.at(roots[i]));
  return out;
}

}  // namespace gradc
