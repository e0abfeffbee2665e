// libFuzzer target: .npz archives (io/npz.hpp's read_npz) and parameter checkpoints, .npz or
// JSON (io/params_io.hpp's load_checkpoint), for a fixed set of parameters; what loads must
// save and load again to the same values.
#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "fuzz/fuzz_common.hpp"
#include "io/npz.hpp"
#include "io/params_io.hpp"

namespace {

std::vector<gradc::Param> fixed_params() {
  using gradc::Param, gradc::Shape;
  std::vector<Param> ps(3);
  ps[0].name = "W";
  ps[0].shape = Shape{2, 3};
  ps[1].name = "net.0.b";
  ps[1].shape = Shape{3};
  ps[2].name = "s";
  ps[2].shape = Shape{};
  return ps;
}

// Equal values (-0 == 0: whether -0 survives is a test of its own; nan never loads).
void same(const std::vector<gradc::Tensor>& a, const std::vector<gradc::Tensor>& b, const char* what) {
  if (a.size() != b.size()) gradc::fuzz::fail("round trip: tensor count", what);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].shape == b[i].shape) || a[i].data.size() != b[i].data.size())
      gradc::fuzz::fail("round trip: shape", what);
    for (std::size_t k = 0; k < a[i].data.size(); ++k)
      if (!(a[i].data[k] == b[i].data[k]) && !(std::isnan(a[i].data[k]) && std::isnan(b[i].data[k])))
        gradc::fuzz::fail("round trip: value", fmt::format("{} tensor {} element {}: {} vs {}", what, i, k,
                                                           a[i].data[k], b[i].data[k]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gradc;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto arrays = read_npz(bytes);
    for (auto& [name, t] : arrays)
      if (t.data.size() != std::size_t(t.shape.size())) fuzz::fail("read_npz: data size is not the shape's", name);
  } catch (const std::runtime_error&) {  // read_npz's documented error
  }

  bool npz = bytes.rfind("PK", 0) == 0;
  static const std::string in_npz = fuzz::temp_path(".npz"), in_json = fuzz::temp_path(".json");
  static const std::string out_npz = fuzz::temp_path(".out.npz"), out_json = fuzz::temp_path(".out.json");
  const std::string& path = npz ? in_npz : in_json;
  fuzz::write_bytes(path, data, size);
  const std::vector<Param> params = fixed_params();
  for (Optimizer::Kind kind : {Optimizer::Sgd, Optimizer::Adam}) {
    fuzz::expected_errors([&] {
      Checkpoint c = load_checkpoint(path, params, kind);
      for (const std::string& out : {out_npz, out_json}) {
        bool saved = fuzz::expected_errors([&] {
          save_params(out, params, c.params, c.optimizer ? &*c.optimizer : nullptr);
        });
        if (!saved) continue;  // refusing to save (a non-finite value) is an answer
        Checkpoint again;
        try {
          again = load_checkpoint(out, params, kind);
        } catch (const UsageError& e) {
          fuzz::fail("a checkpoint gradc saved does not load again", e.what());
        }
        same(c.params, again.params, "parameters");
        if (c.optimizer.has_value() != again.optimizer.has_value()) fuzz::fail("round trip: optimizer state", out);
        if (c.optimizer) {
          if (c.optimizer->step != again.optimizer->step || c.optimizer->epoch != again.optimizer->epoch)
            fuzz::fail("round trip: optimizer counters", out);
          same(c.optimizer->momentum_buffer, again.optimizer->momentum_buffer, "momentum_buffer");
          same(c.optimizer->exp_avg, again.optimizer->exp_avg, "exp_avg");
          same(c.optimizer->exp_avg_sq, again.optimizer->exp_avg_sq, "exp_avg_sq");
        }
      }
    });
  }
  return 0;
}
