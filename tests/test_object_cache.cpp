// The JIT's on-disk object cache: a second Jit compiles nothing and computes the same bits (scalar,
// tensor and constant-table kernels), what goes into the key, corrupt, truncated and foreign
// files, an unwritable folder, the size bound, concurrent writers, and --no-cache in the CLI; what
// a cached run skips: the host CPU named by its cpuid words (the same on every core), the data
// layout stored with the object (a Jit set up from it compiles new kernels; a bad one is a miss),
// and the key of a large graph (BLAKE3 past 64 KiB, SHA-256 below).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>
#include <vector>

#include <sched.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "compiler/builder.hpp"
#include "compiler/interp.hpp"
#include "io/process.hpp"
#include "runtime/jit.hpp"
#include "runtime/object_cache.hpp"
#include "support/temp_dir.hpp"

namespace gradc::test {
namespace {

namespace fs = std::filesystem;
using Nodes = std::vector<const Node*>;

// The lecture function's value and gradient shape: exp, log, sin and products of three variables.
struct Lecture {
  Graph g;
  Nodes in, out;
  Lecture() {
    Builder b(g, Simplify::None);
    const Node *x = b.var("x"), *y = b.var("y"), *z = b.var("z");
    in = {x, y, z};
    const Node* f = b.add(b.mul(b.call(Op::Sin, x), b.call(Op::Exp, y)), b.call(Op::Log, b.add(1.0, b.mul(z, z))));
    out = {f, b.mul(b.call(Op::Cos, x), b.call(Op::Exp, y)), b.mul(b.call(Op::Sin, x), b.call(Op::Exp, y))};
  }
  KernelSpec spec(DType t = DType::F64) const { return KernelSpec{"f", in, out, true, t}; }
};

std::vector<std::uint64_t> bits(const Kernel& k, std::vector<double> in) {
  std::vector<double> out(k.num_outputs);
  k.single(in.data(), out.data());
  std::vector<double> rows(3 * k.num_outputs);
  std::vector<double> in3;
  for (int r = 0; r < 3; ++r)
    for (double v : in) in3.push_back(v + r);
  k.batch(in3.data(), rows.data(), 3);
  std::vector<std::uint64_t> b;
  for (double v : out) b.push_back(std::bit_cast<std::uint64_t>(v));
  for (double v : rows) b.push_back(std::bit_cast<std::uint64_t>(v));
  return b;
}

// (hits, misses, stores), compared as one value so a failure prints all three.
std::tuple<std::uint64_t, std::uint64_t, std::uint64_t> counts(const Jit::CacheStats& s) {
  return {s.hits, s.misses, s.stores};
}

std::vector<fs::path> objects(const fs::path& dir) {
  std::vector<fs::path> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) v.push_back(e.path());
  return v;
}

class ObjectCacheTest : public InTempDir {
 protected:
  std::string cache() const { return (dir_ / "cache").string(); }
  std::unique_ptr<Jit> jit(bool optimize = true) { return Jit::create({.optimize = optimize, .cache_dir = cache()}); }
};

TEST_F(ObjectCacheTest, SecondJitCompilesNothingAndComputesTheSameBits) {
  Lecture l;
  const std::vector<double> at = {0.5, 1.2, 3.0};
  auto reference = Jit::create();  // no cache
  auto expected = bits(reference->compile(l.spec()), at);
  EXPECT_EQ(reference->cache_stats().misses, 0u);

  auto first = jit();
  EXPECT_EQ(bits(first->compile(l.spec()), at), expected);
  EXPECT_EQ(counts(first->cache_stats()), std::tuple(0u, 1u, 1u));
  ASSERT_EQ(objects(cache()).size(), 1u);

  auto second = jit();
  EXPECT_EQ(bits(second->compile(l.spec()), at), expected);
  EXPECT_EQ(counts(second->cache_stats()), std::tuple(1u, 0u, 0u));
  // The same kernel again in the same Jit: its own JITDylib, the same object, no clash.
  EXPECT_EQ(bits(second->compile(l.spec()), at), expected);
  EXPECT_EQ(second->cache_stats().hits, 2u);
  // The values are the function's (the interpreter as the independent reference).
  std::vector<double> want = evaluate(l.out, l.in, at);
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(std::bit_cast<double>(expected[i]), want[i], 1e-15 * std::fabs(want[i]));
}

TEST_F(ObjectCacheTest, TensorAndConstantTableKernelsFromTheCache) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x", Shape{3, 4}), *w = b.var("w", Shape{4, 2}), *s = b.var("s");
  // A tensor kernel (workspace buffers) and a scalar kernel past kMaxImmediates distinct
  // constants (an external constant table): both are module globals the object carries.
  Nodes tensor_out = {b.call(Op::Tanh, b.matmul(x, w))};
  const Node* sum = s;
  for (int i = 0; i < 1100; ++i) sum = b.add(sum, b.mul(i + 0.5, b.mul(s, b.add(1.0 + i, s))));
  Nodes scalar_out = {sum};
  Nodes tensor_in = {x, w}, scalar_in = {s};
  KernelSpec tk{"t", tensor_in, tensor_out, false}, sk{"s", scalar_in, scalar_out, false};
  std::vector<double> xin(20);
  for (std::size_t i = 0; i < xin.size(); ++i) xin[i] = 0.1 * static_cast<double>(i) - 0.7;
  double sin_ = 0.3;
  auto run = [&](Jit& j) {
    Kernel t = j.compile(tk), k = j.compile(sk);
    std::vector<double> out(7);
    t.single(xin.data(), out.data());
    k.single(&sin_, out.data() + 6);
    return out;
  };
  auto first = jit();
  std::vector<double> a = run(*first);
  EXPECT_EQ(first->cache_stats().stores, 2u);
  auto second = jit();
  std::vector<double> c = run(*second);
  EXPECT_EQ(second->cache_stats().hits, 2u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(std::bit_cast<std::uint64_t>(a[i]), std::bit_cast<std::uint64_t>(c[i])) << i;
  std::vector<Tensor> values = {Tensor{Shape{3, 4}, std::vector<double>(xin.begin(), xin.begin() + 12)},
                                Tensor{Shape{4, 2}, std::vector<double>(xin.begin() + 12, xin.end())}};
  Tensor want = evaluate_tensors(tensor_out, Nodes{x, w}, values)[0];
  for (std::size_t i = 0; i < 6; ++i) EXPECT_NEAR(c[i], want.data[i], 1e-12);
  EXPECT_NEAR(c[6], evaluate(scalar_out, Nodes{s}, std::vector<double>{sin_})[0], 1e-9);
}

TEST_F(ObjectCacheTest, TheKeyFollowsWhatChangesTheCode) {
  Lecture l, again;
  TargetInfo t;
  const std::string ctx = "x86_64 sapphirerapids +avx512f O2";
  CacheKey k = cache_key(l.spec(), t, ctx);
  EXPECT_EQ(cache_key(again.spec(), t, ctx), k) << "the same DAG in another Graph";
  KernelSpec renamed = l.spec();
  renamed.name = "g";
  EXPECT_EQ(cache_key(renamed, t, ctx), k) << "the name is not part of the code";
  EXPECT_NE(cache_key(l.spec(DType::F32), t, ctx), k);
  TargetInfo no_fma = t;
  no_fma.contract = false;
  EXPECT_NE(cache_key(l.spec(), no_fma, ctx), k);
  TargetInfo threads = t;
  threads.threads = 2;
  EXPECT_NE(cache_key(l.spec(), threads, ctx), k);
  EXPECT_NE(cache_key(l.spec(), t, "x86_64 sapphirerapids -avx512f O2"), k) << "CPU features";
  EXPECT_NE(cache_key(l.spec(), t, "x86_64 sapphirerapids +avx512f O0"), k) << "tier";
  KernelSpec no_batch = l.spec();
  no_batch.batch = false;
  EXPECT_NE(cache_key(no_batch, t, ctx), k);
  KernelSpec swapped = l.spec();
  Nodes in = {l.in[1], l.in[0], l.in[2]};
  swapped.inputs = in;
  EXPECT_NE(cache_key(swapped, t, ctx), k) << "the inputs' order";
  // A different constant: 1 + z^2 -> 2 + z^2.
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y"), *z = b.var("z");
  Nodes out = {b.add(b.mul(b.call(Op::Sin, x), b.call(Op::Exp, y)), b.call(Op::Log, b.add(2.0, b.mul(z, z)))),
               b.mul(b.call(Op::Cos, x), b.call(Op::Exp, y)), b.mul(b.call(Op::Sin, x), b.call(Op::Exp, y))};
  Nodes vars = {x, y, z};
  EXPECT_NE(cache_key(KernelSpec{"f", vars, out}, t, ctx), k);

  // The Jit's own part: an O0 Jit does not take an O2 Jit's object.
  auto o2 = jit(true);
  o2->compile(l.spec());
  auto o0 = jit(false);
  o0->compile(l.spec());
  EXPECT_EQ(o0->cache_stats().hits, 0u);
  EXPECT_EQ(objects(cache()).size(), 2u);
  EXPECT_FALSE(runtime_build_id().empty()) << "gradc is linked with a build ID (see object_cache.hpp)";
}

TEST_F(ObjectCacheTest, CorruptTruncatedOrForeignFilesAreMissesAndReplaced) {
  Lecture l;
  const std::vector<double> at = {0.5, 1.2, 3.0};
  auto expected = bits(jit()->compile(l.spec()), at);
  ASSERT_EQ(objects(cache()).size(), 1u);
  const fs::path file = objects(cache())[0];
  std::string good;
  {
    std::ifstream f(file, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(f), {});
  }
  ASSERT_GT(good.size(), 64u);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  std::string other_key = good;
  other_key[20] ^= 1;  // the key in the header
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"empty", ""},
      {"truncated header", good.substr(0, 30)},
      {"truncated object", good.substr(0, good.size() - 100)},
      {"a flipped bit in the object", flipped},
      {"another key", other_key},
      {"longer", good + "trailing"},
      {"not ours", "\x7f" "ELF" + std::string(200, 'x')},
  };
  for (const auto& [what, content] : bad) {
    SCOPED_TRACE(what);
    {
      std::ofstream f(file, std::ios::binary | std::ios::trunc);
      f << content;
    }
    auto j = jit();
    EXPECT_EQ(bits(j->compile(l.spec()), at), expected);
    EXPECT_EQ(j->cache_stats().hits, 0u);
    EXPECT_EQ(j->cache_stats().stores, 1u);
    auto after = jit();  // replaced by a good object
    after->compile(l.spec());
    EXPECT_EQ(after->cache_stats().hits, 1u);
  }
}

TEST_F(ObjectCacheTest, AnUnwritableFolderIsNoCacheAndNoError) {
  Lecture l;
  { std::ofstream("plain_file") << "x"; }
  // A folder inside a plain file can be neither created nor written (even by root).
  auto j = Jit::create({.cache_dir = (dir_ / "plain_file" / "gradc").string()});
  auto b = bits(j->compile(l.spec()), {0.5, 1.2, 3.0});
  EXPECT_EQ(b, bits(Jit::create()->compile(l.spec()), {0.5, 1.2, 3.0}));
  EXPECT_EQ(j->cache_stats().misses, 1u);
  EXPECT_EQ(j->cache_stats().stores, 0u);
}

TEST_F(ObjectCacheTest, TrimEvictsTheLeastRecentlyUsedPastTheBound) {
  ObjectCache c(cache(), 10000);
  auto key = [](std::uint8_t i) {
    CacheKey k{};
    k[0] = 200;  // store() does not trim by itself for these keys
    k[1] = i;
    return k;
  };
  const std::string object(3000, 'o');
  for (std::uint8_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.store(key(i), object));
    fs::last_write_time(c.path(key(i)), fs::file_time_type::clock::now() - std::chrono::minutes(10 - i));
  }
  ASSERT_TRUE(c.load(key(0)));  // used now: the most recent
  c.trim();                     // 5 x 3064 bytes > 10000: down to at most 7500
  EXPECT_TRUE(c.load(key(0)));
  EXPECT_FALSE(c.load(key(1)));
  EXPECT_FALSE(c.load(key(2)));
  EXPECT_FALSE(c.load(key(3)));
  EXPECT_TRUE(c.load(key(4)));
  // Under the bound, nothing goes.
  c.trim();
  EXPECT_TRUE(c.load(key(0)));
  EXPECT_TRUE(c.load(key(4)));
}

TEST_F(ObjectCacheTest, ConcurrentWritersAndReadersSeeWholeObjectsOnly) {
  CacheKey k{};
  k[0] = 99;
  std::vector<std::thread> threads;
  std::atomic<int> torn{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ObjectCache c(cache());  // one per thread, as in separate processes
      const std::string mine(50000 + 1000 * t, static_cast<char>('a' + t));
      for (int i = 0; i < 50; ++i) {
        c.store(k, mine);
        if (auto got = c.load(k))
          if (got->size() < 50000 || got->find_first_not_of(got->front()) != std::string::npos ||
              got->size() != 50000 + 1000 * static_cast<std::size_t>(got->front() - 'a'))
            ++torn;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(objects(cache()).size(), 1u) << "no temporary file left behind";
}

TEST(DefaultCacheDir, FollowsXdgAndGradcNoCache) {
  auto with = [](const char* xdg, const char* home, const char* off) {
    auto set = [](const char* name, const char* v) { v ? ::setenv(name, v, 1) : ::unsetenv(name); };
    std::string old_xdg = std::getenv("XDG_CACHE_HOME") ? std::getenv("XDG_CACHE_HOME") : "";
    std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
    set("XDG_CACHE_HOME", xdg), set("HOME", home), set("GRADC_NO_CACHE", off);
    std::string d = default_cache_dir();
    set("XDG_CACHE_HOME", old_xdg.empty() ? nullptr : old_xdg.c_str());
    set("HOME", old_home.empty() ? nullptr : old_home.c_str());
    ::unsetenv("GRADC_NO_CACHE");
    return d;
  };
  EXPECT_EQ(with("/x/cache", "/home/u", nullptr), "/x/cache/gradc");
  EXPECT_EQ(with(nullptr, "/home/u", nullptr), "/home/u/.cache/gradc");
  EXPECT_EQ(with("", "/home/u", nullptr), "/home/u/.cache/gradc");
  EXPECT_EQ(with("relative", "/home/u", nullptr), "/home/u/.cache/gradc");  // XDG: ignored
  EXPECT_EQ(with(nullptr, nullptr, nullptr), "");
  EXPECT_EQ(with("/x/cache", "/home/u", "1"), "");
  EXPECT_EQ(with("/x/cache", "/home/u", ""), "/x/cache/gradc");
}

// The CLI: the cache under $XDG_CACHE_HOME/gradc, the same output from it, --no-cache writes nothing.
class CliCache : public InTempDir {
 protected:
  ProcessResult gradc(std::vector<std::string> args) {
    args.insert(args.begin(), GRADC_BINARY);
    return run_program(args, "").value();
  }
  void SetUp() override {
    InTempDir::SetUp();
    old_ = std::getenv("XDG_CACHE_HOME") ? std::getenv("XDG_CACHE_HOME") : "";
    ::setenv("XDG_CACHE_HOME", (dir_ / "xdg").c_str(), 1);
  }
  void TearDown() override {
    old_.empty() ? ::unsetenv("XDG_CACHE_HOME") : ::setenv("XDG_CACHE_HOME", old_.c_str(), 1);
    InTempDir::TearDown();
  }
  std::string old_;
};

const std::string kLecture = std::string(GRADC_SOURCE_DIR) + "/examples/lecture.grad";

TEST_F(CliCache, EvalStoresThenReadsAndNoCacheWritesNothing) {
  auto nocache = gradc({"eval", kLecture, "--fn", "f", "--no-cache"});
  ASSERT_EQ(nocache.exit_code, 0) << nocache.err;
  EXPECT_FALSE(fs::exists(dir_ / "xdg"));
  auto first = gradc({"eval", kLecture, "--fn", "f"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, nocache.out);
  auto stored = objects(dir_ / "xdg" / "gradc");
  ASSERT_EQ(stored.size(), 1u);
  auto mtime = fs::last_write_time(stored[0]);
  fs::last_write_time(stored[0], mtime - std::chrono::hours(1));
  auto second = gradc({"eval", kLecture, "--fn", "f"});
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(objects(dir_ / "xdg" / "gradc"), stored);
  EXPECT_GT(fs::last_write_time(stored[0]), mtime - std::chrono::minutes(30)) << "a hit renews the object's time";
  // A different program compiles (and stores) another object; --no-fma another again.
  ASSERT_EQ(gradc({"eval", kLecture, "--fn", "f", "--no-fma"}).exit_code, 0);
  EXPECT_EQ(objects(dir_ / "xdg" / "gradc").size(), 2u);
}

TEST_F(CliCache, GradcNoCacheAndAnUnwritableCacheHome) {
  ::setenv("GRADC_NO_CACHE", "1", 1);
  auto off = gradc({"eval", kLecture, "--fn", "f"});
  ::unsetenv("GRADC_NO_CACHE");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_FALSE(fs::exists(dir_ / "xdg"));
  { std::ofstream("xdg") << "a file, not a folder"; }
  auto r = gradc({"eval", kLecture, "--fn", "f"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, off.out);
}

TEST_F(CliCache, TrainingStepsFromTheCache) {
  const std::string xor_file = std::string(GRADC_SOURCE_DIR) + "/examples/xor.grad";
  auto first = gradc({"train", xor_file, "--epochs", "50", "--quiet", "--save", "a.json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::size_t n = objects(dir_ / "xdg" / "gradc").size();
  EXPECT_GE(n, 1u);
  auto second = gradc({"train", xor_file, "--epochs", "50", "--quiet", "--save", "b.json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(objects(dir_ / "xdg" / "gradc").size(), n);
  std::ifstream a("a.json"), b("b.json");
  std::string sa(std::istreambuf_iterator<char>(a), {}), sb(std::istreambuf_iterator<char>(b), {});
  EXPECT_EQ(sa, sb);
}

// A Jit whose kernels came from the cache was set up with the data layout stored with them: it
// still compiles new kernels (whose modules must have the same layout), in both tiers.
TEST_F(ObjectCacheTest, AJitSetUpFromTheCacheCompilesNewKernels) {
  Lecture l;
  const std::vector<double> at = {0.5, 1.2, 3.0};
  auto expected = bits(Jit::create()->compile(l.spec()), at);
  jit()->compile(l.spec());
  auto j = jit();
  EXPECT_EQ(bits(j->compile(l.spec()), at), expected);
  ASSERT_EQ(j->cache_stats().hits, 1u);
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes in = {x}, out = {b.mul(b.call(Op::Tanh, x), b.call(Op::Sqrt, b.add(2.0, x)))};
  KernelSpec other{"g", in, out, true};
  Kernel k = j->compile(other);
  Kernel fast = j->compile(other, Tier::Fast);
  EXPECT_EQ(j->cache_stats().misses, 2u);
  for (double v : {0.25, 1.5}) {
    double want = std::tanh(v) * std::sqrt(2.0 + v), got = 0, got_fast = 0, rows[2] = {v, v + 1}, outs[2];
    k.single(&v, &got);
    fast.single(&v, &got_fast);
    EXPECT_NEAR(got, want, 1e-15);
    EXPECT_NEAR(got_fast, want, 1e-15);
    k.batch(rows, outs, 2);
    EXPECT_NEAR(outs[1], std::tanh(v + 1) * std::sqrt(3.0 + v), 1e-15);
  }
}

// The layout is part of the checked entry; one that does not parse is a miss, and the next
// store replaces the entry.
TEST_F(ObjectCacheTest, TheDataLayoutTravelsWithTheObject) {
  ObjectCache c(cache());
  CacheKey key{};
  key[0] = 77;
  ASSERT_TRUE(c.store(key, "object bytes", "e-m:e-i64:64-n8:16:32:64-S128"));
  std::string layout;
  EXPECT_EQ(c.load(key, &layout), "object bytes");
  EXPECT_EQ(layout, "e-m:e-i64:64-n8:16:32:64-S128");
  std::string file;
  {
    std::ifstream f(c.path(key), std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(f), {});
  }
  file[64 + 3] ^= 1;  // in the layout
  { std::ofstream(c.path(key), std::ios::binary | std::ios::trunc) << file; }
  EXPECT_FALSE(c.load(key, &layout));

  // A Jit's entry stored again with a layout LLVM cannot parse.
  Lecture l;
  const std::vector<double> at = {0.5, 1.2, 3.0};
  fs::remove_all(cache());
  auto expected = bits(jit()->compile(l.spec()), at);
  ASSERT_EQ(objects(cache()).size(), 1u);
  const fs::path entry = objects(cache())[0];
  {
    std::ifstream f(entry, std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::uint32_t layout_bytes;
  std::memcpy(&layout_bytes, file.data() + 12, 4);
  ASSERT_GT(layout_bytes, 0u) << "the Jit stores its layout";
  CacheKey jit_key;
  std::memcpy(jit_key.data(), file.data() + 16, jit_key.size());  // the header's key
  ASSERT_TRUE(ObjectCache(cache()).store(jit_key, file.substr(64 + layout_bytes), "not a layout!"));
  ASSERT_TRUE(ObjectCache(cache()).load(jit_key)) << "a well-formed entry";
  auto j = jit();
  EXPECT_EQ(bits(j->compile(l.spec()), at), expected);
  EXPECT_EQ(j->cache_stats().hits, 0u);
  EXPECT_EQ(j->cache_stats().stores, 1u);
  auto after = jit();
  EXPECT_EQ(bits(after->compile(l.spec()), at), expected);
  EXPECT_EQ(after->cache_stats().hits, 1u);
}

// Past 64 KiB of serialized DAG the key is BLAKE3's: the same graph, the same key; one constant
// changed at the far end of a long chain, another key.
TEST(CacheKey, ALargeGraph) {
  struct Chain {
    Graph g;
    Nodes in, out;
    explicit Chain(double first) {
      Builder b(g, Simplify::None);
      const Node* x = b.var("x");
      const Node* v = b.mul(first, x);
      for (int i = 0; i < 3000; ++i) v = b.add(1.0 + i, b.mul(v, x));
      in = {x}, out = {v};
    }
    KernelSpec spec() const { return KernelSpec{"c", in, out, false}; }
  };
  Chain c1(0.5), c2(0.5), c3(0.25);
  TargetInfo t;
  CacheKey a = cache_key(c1.spec(), t, "ctx");
  EXPECT_EQ(cache_key(c2.spec(), t, "ctx"), a);
  EXPECT_NE(cache_key(c3.spec(), t, "ctx"), a);
  EXPECT_NE(cache_key(c1.spec(), t, "ctx2"), a);
}

#if defined(__x86_64__) && defined(__GLIBC__)
// The host CPU in the key: cpuid's words as the C library keeps them, without the APIC ID, so a
// process finds its objects whichever core it starts on (two cores: the second run is a hit).
TEST_F(CliCache, TheCacheHitsOnEveryCore) {
  const std::string sig = host_cpu_signature();
  ASSERT_GE(sig.size(), 2u * 4 * (4 + 9 * 8));
  EXPECT_EQ(host_cpu_signature(), sig);
  auto word = [&](std::size_t i) {
    std::uint32_t w = 0;
    for (int byte = 3; byte >= 0; --byte) w = w << 8 | static_cast<std::uint32_t>(std::stoul(sig.substr(8 * i + 2 * byte, 2), nullptr, 16));
    return w;
  };
  unsigned a, b, c, d;
  __cpuid_count(0, 0, a, b, c, d);
  EXPECT_EQ(word(0), a) << "the maximum leaf";
  EXPECT_EQ(word(1), b) << "the vendor";
  __cpuid_count(1, 0, a, b, c, d);
  EXPECT_EQ(word(4), a) << "family, model, stepping";
  EXPECT_EQ(word(5), b & 0x00ffffffu) << "leaf 1's ebx without the APIC ID";

  cpu_set_t old;
  ASSERT_EQ(::sched_getaffinity(0, sizeof old, &old), 0);
  std::vector<int> cpus;
  for (int i = 0; i < CPU_SETSIZE && cpus.size() < 2; ++i)
    if (CPU_ISSET(i, &old)) cpus.push_back(i);
  if (cpus.size() < 2) GTEST_SKIP() << "one CPU: nothing to compare";
  std::string out;
  for (int cpu : cpus) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    auto r = gradc({"eval", kLecture, "--fn", "f"});  // the child starts on this core
    ::sched_setaffinity(0, sizeof old, &old);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (!out.empty()) EXPECT_EQ(r.out, out);
    out = r.out;
  }
  EXPECT_EQ(objects(dir_ / "xdg" / "gradc").size(), 1u) << "the second core's run found the first one's object";
}
#endif

}  // namespace
}  // namespace gradc::test
