// The language of issue 11: tensor parameters `fn f(x[3])`, any tensor result (`[x*y, x + y]`,
// nested, block `return [a, b]`), functions with no parameters, `const` items (numbers,
// literals, csv(...), X.shape[i]) and `features = all`. Parser forms and their exact syntax
// errors, shapes of lowered parameters and results, values from the interpreter and the JIT
// against numbers computed by hand in this file, and the exact messages of bad programs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>
#include <string>
#include <vector>

#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

std::string program_error(const std::string& text) {
  SourceFile src{"test.grad", text};
  try {
    parse_program(src);
  } catch (const InputError& e) {
    auto lc = src.line_col(e.loc);
    return std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + e.what();
  }
  return "no error";
}

std::string dump(const std::string& text) {
  SourceFile src{"test.grad", text};
  return dump_ast(src, parse_program(src));
}

/// f's value at the given arguments, by the interpreter.
Tensor eval(const Module& m, const std::string& fn, const std::vector<Tensor>& args) {
  const Function* f = m.find(fn);
  EXPECT_NE(f, nullptr) << fn;
  EXPECT_NE(f->body, nullptr) << fn;
  return evaluate_tensors(std::span<const Node* const>(&f->body, 1), f->params, args)[0];
}

Tensor vec(std::vector<double> v) { return Tensor{Shape{static_cast<std::int32_t>(v.size())}, std::move(v)}; }

/// A CSV file in a fresh temporary folder, removed with it.
struct TempCsv {
  std::filesystem::path dir;
  explicit TempCsv(const std::string& name, const std::string& text) {
    dir = std::filesystem::temp_directory_path() /
          ("gradc_lang_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / name) << text;
  }
  ~TempCsv() { std::filesystem::remove_all(dir); }
};

/// compile_text with the .grad file in `dir` (csv paths resolve against it).
std::unique_ptr<Module> compile_in(const std::filesystem::path& dir, const std::string& text) {
  return compile_module(SourceFile{(dir / "t.grad").string(), text}, true, read_csv);
}

std::string error_in(const std::filesystem::path& dir, const std::string& text) {
  return compile_error(text, (dir / "t.grad").string());
}

//===--- Parser ---------------------------------------------------------------------------===//

TEST(LanguageParser, TensorParameters) {
  ast::Program p = parse_program(SourceFile{"t", "fn f(x[3], A[n, 2 * n], s) = A @ x + s"});
  ASSERT_EQ(p.functions.size(), 1u);
  const auto& ps = p.functions[0].params;
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[0].name, "x");
  EXPECT_EQ(ps[0].dims.size(), 1u);
  EXPECT_EQ(ps[1].name, "A");
  EXPECT_EQ(ps[1].dims.size(), 2u);
  EXPECT_EQ(ps[2].name, "s");
  EXPECT_TRUE(ps[2].dims.empty());
  EXPECT_EQ(dump("fn f(x[3], A[n, 2 * n], s) = A @ x + s"),
            "(fn f@1:4 (x[3] A[n (mul 2 * n)] s)\n  (return (add (mul A @ x) + s)))\n");
}

TEST(LanguageParser, NoParameters) {
  ast::Program p = parse_program(SourceFile{"t", "fn f() = 1\nfn g( ) { return 2 }"});
  ASSERT_EQ(p.functions.size(), 2u);
  EXPECT_TRUE(p.functions[0].params.empty());
  EXPECT_TRUE(p.functions[1].params.empty());
  EXPECT_EQ(dump("fn f() = 1"), "(fn f@1:4 ()\n  (return 1))\n");
}

TEST(LanguageParser, Const) {
  ast::Program p = parse_program(SourceFile{"t", "const C = [[1, 2], [3, 4]]\nconst n = C.shape[0]\nfn f() = n"});
  ASSERT_EQ(p.consts.size(), 2u);
  EXPECT_EQ(p.consts[0].name.name, "C");
  EXPECT_EQ(p.consts[1].name.name, "n");
  EXPECT_EQ(dump("const C = [[1, 2], [3, 4]]\nconst n = C.shape[0]\n"),
            "(const C@1:7 (tensor (tensor 1 2) (tensor 3 4)))\n(const n@2:7 (index (member C shape) 0))\n");
  EXPECT_TRUE(is_keyword("const"));
}

TEST(LanguageParser, TensorResults) {
  EXPECT_EQ(dump("fn f(x, y) {\n  a = x * y\n  return [[a, x], [y, 1]]\n}"),
            "(fn f@1:4 (x y)\n  (let a@2:3 (mul x * y))\n  (return (tensor (tensor a x) (tensor y 1))))\n");
}

TEST(LanguageParser, Errors) {
  EXPECT_EQ(program_error("fn f( = 1"), "1:7: expected parameter name or ')'");
  EXPECT_EQ(program_error("fn f(x[3) = x"), "1:9: expected ',' or ']'");
  EXPECT_EQ(program_error("fn f(x[]) = x"), "1:8: expected expression");
  EXPECT_EQ(program_error("fn f(x[3], ) = x"), "1:12: expected parameter name");
  EXPECT_EQ(program_error("fn f(x[3] y) = x"), "1:11: expected ',' or ')'");
  EXPECT_EQ(program_error("fn f(const) = 1"), "1:6: 'const' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("const = 3"), "1:7: expected constant name");
  EXPECT_EQ(program_error("const c 3"), "1:9: expected '='");
  EXPECT_EQ(program_error("const c ="), "1:10: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) {\n  const = 1\n  return x\n}"),
            "2:3: 'const' is a keyword and cannot be used as a name");
}

//===--- Lowering: shapes and values -------------------------------------------------------===//

TEST(LanguageLowering, StackedResult) {
  auto m = compile_text("fn f(x, y) = [x*y, x + y, sin(x)]\n");
  const Function* f = m->find("f");
  ASSERT_NE(f->body, nullptr);
  EXPECT_EQ(f->body->shape, (Shape{3}));
  ASSERT_EQ(f->params.size(), 2u);
  EXPECT_TRUE(f->params[0]->shape.scalar());
  Tensor r = eval(*m, "f", {Tensor::scalar(2), Tensor::scalar(3)});
  EXPECT_EQ(r.shape, (Shape{3}));
  EXPECT_EQ(r.data, (std::vector<double>{6, 5, std::sin(2.0)}));
}

TEST(LanguageLowering, NestedAndBlockResults) {
  auto m = compile_text("fn f(x, y) {\n  a = x * y\n  return [[a, x], [y, 1]]\n}\n"
                        "fn g(x) = [[x, 2 * x], [3, x ^ 2]] + [[1, 1], [1, 1]]\n");
  EXPECT_EQ(m->find("f")->body->shape, (Shape{2, 2}));
  EXPECT_EQ(eval(*m, "f", {Tensor::scalar(2), Tensor::scalar(5)}).data, (std::vector<double>{10, 2, 5, 1}));
  EXPECT_EQ(eval(*m, "g", {Tensor::scalar(3)}).data, (std::vector<double>{4, 7, 4, 10}));
}

TEST(LanguageLowering, TensorParameters) {
  auto m = compile_text("const d = 3\nfn f(v[d], A[d, d]) = A @ v\nfn n2(x[2]) = sum(x * x)\n"
                        "fn g(x[2], s) = [n2(x) * s, x[0] - x[1]]\n");
  const Function* f = m->find("f");
  ASSERT_EQ(f->params.size(), 2u);
  EXPECT_EQ(f->params[0]->shape, (Shape{3}));
  EXPECT_EQ(f->params[1]->shape, (Shape{3, 3}));
  EXPECT_EQ(f->body->shape, (Shape{3}));
  Tensor A{Shape{3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 10}};
  EXPECT_EQ(eval(*m, "f", {vec({1, -1, 2}), A}).data, (std::vector<double>{1 - 2 + 6, 4 - 5 + 12, 7 - 8 + 20}));
  // A call with an argument of the parameter's shape: 2 * (9 + 16), 3 - 4.
  EXPECT_EQ(eval(*m, "g", {vec({3, 4}), Tensor::scalar(2)}).data, (std::vector<double>{50, -1}));
}

TEST(LanguageLowering, NoParameters) {
  auto m = compile_text("const C = [[1, 2], [3, 4]]\nfn f() = sum(C) + C.shape[1] * 100\nfn g(x) = f() * x\n");
  const Function* f = m->find("f");
  EXPECT_TRUE(f->params.empty());
  ASSERT_NE(f->body, nullptr);
  EXPECT_EQ(eval(*m, "f", {}).data, (std::vector<double>{210}));
  EXPECT_EQ(eval(*m, "g", {Tensor::scalar(2)}).data, (std::vector<double>{420}));
}

TEST(LanguageLowering, Constants) {
  auto m = compile_text(
      "const C = [[1, 2], [3, 4]]\nconst d = 3\nconst n = C.shape[0]\nconst twice = 2 * C\n"
      "fn f(x[n]) = C @ x + d\nfn g() = [twice.shape[0], twice.shape[-1], d * n]\nfn h() = twice\n");
  EXPECT_EQ(eval(*m, "f", {vec({1, 1})}).data, (std::vector<double>{6, 10}));
  EXPECT_EQ(eval(*m, "g", {}).data, (std::vector<double>{2, 2, 6}));
  EXPECT_EQ(eval(*m, "h", {}).data, (std::vector<double>{2, 4, 6, 8}));
  // Constants are computed once; literal-only brackets are tensor data, not a stack.
  EXPECT_EQ(m->find("h")->body->op, Op::Tensor);
  auto lit = compile_text("fn f() = [[1, 2], [3, 4]]\n");
  EXPECT_EQ(lit->find("f")->body->op, Op::Tensor);
}

TEST(LanguageLowering, JacobianOfAStackByReverseMode) {
  // Rows of the Jacobian of f(x, y) = [x y, x + y, sin x] by reverse mode, one per output.
  auto m = compile_text("fn f(x, y) = [x*y, x + y, sin(x)]\n");
  const Function* f = m->find("f");
  Builder b(m->graph);
  double x = 0.5, y = 2;
  std::vector<std::vector<double>> want = {{y, x}, {1, 1}, {std::cos(x), 0}};
  for (int i = 0; i < 3; ++i) {
    const Node* out = b.index(f->body, 0, i);
    std::vector<const Node*> g = gradient(b, out, f->params);
    std::vector<double> got = evaluate(g, f->params, std::vector<double>{x, y});
    EXPECT_NEAR(got[0], want[i][0], 1e-15) << i;
    EXPECT_NEAR(got[1], want[i][1], 1e-15) << i;
  }
}

TEST(LanguageLowering, JitAgreesWithInterpreter) {
  auto m = compile_text("fn f(x[3], y) = [x * y, sin(x) + y]\n");
  const Function* f = m->find("f");
  ASSERT_EQ(f->body->shape, (Shape{2, 3}));
  Kernel k = shared_jit().compile(KernelSpec{"f", f->params, std::span<const Node* const>(&f->body, 1), false});
  ASSERT_EQ(k.num_inputs, 4u);
  ASSERT_EQ(k.num_outputs, 6u);
  std::vector<double> in{0.5, -1, 2, 3}, out(6);
  k.single(in.data(), out.data());
  std::vector<double> want{1.5, -3, 6, std::sin(0.5) + 3, std::sin(-1.0) + 3, std::sin(2.0) + 3};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(out[i], want[i], 1e-15) << i;
  EXPECT_EQ(eval(*m, "f", {vec({0.5, -1, 2}), Tensor::scalar(3)}).data, want);
}

TEST(LanguageLowering, ConstantsAreNotMinibatched) {
  // X has 4 rows (batched by 2), C has 3: the loss uses both, which data of two row counts
  // could not.
  auto m = compile_text(
      "data X = [[1], [2], [3], [4]]\nconst C = [[1], [2], [3]]\nparam w[1] = ones\n"
      "train {\n  loss = mean(X @ w) + sum(C @ w) + C.shape[0]\n  batch = 2\n}\n");
  std::vector<DataInput> inputs;
  const Node* loss = m->lower(*m->training->loss, 2, inputs);
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].name, "X");
  EXPECT_EQ(inputs[0].var->shape, (Shape{2, 1}));
  std::vector<const Node*> vars{inputs[0].var, m->params[0].var};
  std::vector<Tensor> vals{Tensor{Shape{2, 1}, {1, 2}}, vec({2})};
  // mean([2, 4]) + 2 * 6 + 3
  EXPECT_EQ(evaluate_tensors(std::span<const Node* const>(&loss, 1), vars, vals)[0].data,
            (std::vector<double>{3 + 12 + 3}));
}

TEST(LanguageLowering, CsvFeaturesAll) {
  TempCsv csv("t.csv", "a,label,b,c\n1,0,2,3\n4,1,5,6\n");
  auto m = compile_in(csv.dir, "data D = csv(\"t.csv\", features = all, target = label)\n"
                               "const K = csv(\"t.csv\", features = all)\n"
                               "const L = csv(\"t.csv\", features = all, target = b)\n"
                               "fn f() = K\nfn g() = [L.x.shape[1], sum(L.y)]\n");
  ASSERT_EQ(m->data.size(), 1u);
  EXPECT_EQ(m->data[0].features, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m->data[0].x.data, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(m->data[0].y->data, (std::vector<double>{0, 1}));
  Tensor k = eval(*m, "f", {});
  EXPECT_EQ(k.shape, (Shape{2, 4}));
  EXPECT_EQ(k.data, (std::vector<double>{1, 0, 2, 3, 4, 1, 5, 6}));
  EXPECT_EQ(eval(*m, "g", {}).data, (std::vector<double>{3, 7}));
}

TEST(LanguageLowering, MnistLikeTakesEveryPixel) {
  // bench/mnist_like.grad with features = all reads p0..p783 in file order, as its hand-named
  // list did; the label is the target.
  std::string header, row;
  for (int j = 0; j < 784; ++j) header += "p" + std::to_string(j) + ",", row += std::to_string(j) + ",";
  TempCsv csv("mnist_like.csv", header + "label\n" + row + "7\n");
  std::ifstream in(GRADC_SOURCE_DIR "/bench/mnist_like.grad");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_NE(text.find("features = all"), std::string::npos);
  auto m = compile_in(csv.dir, text);
  ASSERT_EQ(m->data.size(), 1u);
  const Data& d = m->data[0];
  ASSERT_EQ(d.features.size(), 784u);
  for (int j = 0; j < 784; ++j) EXPECT_EQ(d.features[j], "p" + std::to_string(j));
  EXPECT_EQ(d.x.shape, (Shape{1, 784}));
  EXPECT_EQ(d.x.data[783], 783);
  EXPECT_EQ(d.y->data, (std::vector<double>{7}));
}

TEST(LanguageLowering, TensorValuesInAt) {
  auto m = compile_text("const d = 3\nfn f(v[d]) = sum(v)\nfn g(x) = x\nat v = [1, 2, d], x = 2\n");
  ASSERT_NE(m->at_tensor("v"), nullptr);
  EXPECT_EQ(m->at_tensor("v")->shape, (Shape{3}));
  EXPECT_EQ(m->at_tensor("v")->data, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(m->at_tensor("x"), nullptr);
  ASSERT_NE(m->at_value("x"), nullptr);
  EXPECT_EQ(*m->at_value("x"), 2);
  EXPECT_EQ(compile_error("fn f(v[3]) = sum(v)\nat v = [1, 2]"), "2:8: 'v' has shape [3]: its value cannot have shape [2]");
  EXPECT_EQ(compile_error("fn f(v) = v\nat v = [1, 2]"), "2:8: 'v' is a scalar parameter: its value cannot have shape [2]");
}

//===--- Bad programs: exact messages -------------------------------------------------------===//

TEST(LanguageErrors, Messages) {
  EXPECT_EQ(compile_error("fn f(x[0]) = x"), "1:8: a dimension must be an integer of at least 1, not 0");
  EXPECT_EQ(compile_error("fn f(x[1.5]) = x"), "1:8: a dimension must be an integer of at least 1, not 1.5");
  EXPECT_EQ(compile_error("fn f(x[y]) = x"), "1:8: unknown name 'y'");
  EXPECT_EQ(compile_error("fn f(x[2, 2, 2, 2]) = x"), "1:6: 'x' has 4 dimensions; at most 3 are supported");
  EXPECT_EQ(compile_error("fn f(x, y, z) = [x, [y, z]]"),
            "1:21: the elements of [...] must have one shape to be stacked: element 1 has shape [], element 2 has "
            "shape [2]");
  EXPECT_EQ(compile_error("fn f(x[2, 2, 2]) = [x, x]"), "1:20: tensors have at most 3 dimensions");
  EXPECT_EQ(compile_error("fn f(x[3]) = x\nfn g(y[2]) = f(y)"),
            "2:16: 'f' takes 'x' of shape [3], but this argument has shape [2]");
  EXPECT_EQ(compile_error("fn f() = q"), "1:10: unknown name 'q'");
  EXPECT_EQ(compile_error("const c = 1\nconst c = 2"), "2:7: redefinition of 'c' (first defined at line 1)");
  EXPECT_EQ(compile_error("const C = [1, 2] / [1, 0]"), "1:11: element 1 of the constant 'C' is inf");
  EXPECT_EQ(compile_error("fn f(x) = sin()"), "1:11: 'sin' takes 1 argument, but 0 were given");
  EXPECT_EQ(compile_error("fn f(x) = x\nfn g(x) = f()"), "2:11: 'f' takes 1 argument, but 0 were given");
  EXPECT_EQ(compile_error("const c = 1 / 0"), "1:11: the constant 'c' is not a finite number");
  EXPECT_EQ(compile_error("const c = 3\nfn f() = c.shape[0]"), "2:11: '.shape' of a scalar: it has no axes");
  EXPECT_EQ(compile_error("const C = [1, 2]\nfn f() = C.shape[1]"),
            "2:18: index 1 is out of range for the 1 axes of shape [2]");
  EXPECT_EQ(compile_error("const n = m\nconst m = 2"), "1:11: unknown name 'm'");
  // A literal keeps its own message.
  EXPECT_EQ(compile_error("fn f(x) = [[1, 2], [3]] * x"),
            "1:20: ragged tensor literal: 1 element here, 2 in the first row at this depth");
}

TEST(LanguageErrors, CsvMessages) {
  TempCsv csv("t.csv", "label\n1\n2\n");
  EXPECT_EQ(error_in(csv.dir, "data D = csv(\"t.csv\", features = all, target = label)"),
            "1:34: features = all: t.csv has no column besides the target 'label'");
  EXPECT_EQ(error_in(csv.dir, "const D = csv(\"t.csv\", features = all, target = label)\nfn f() = D"),
            "1:35: features = all: t.csv has no column besides the target 'label'");
  EXPECT_EQ(error_in(csv.dir, "const D = csv(\"t.csv\", features = all)\nfn f() = D.x"),
            "2:11: '.x': only tensors (.shape), CSV data sets (.x, .y) and layers (.W, .b) have members");
  EXPECT_EQ(error_in(csv.dir, "const D = csv(\"t.csv\", features = label, classes = 3)"),
            "1:42: classes = ... needs a target column");
  EXPECT_EQ(error_in(csv.dir, "data D = csv(\"t.csv\", features = all)"), "1:10: 'csv' needs the argument 'target'");
}

}  // namespace
}  // namespace gradc::test
