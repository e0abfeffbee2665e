// The object cache: the kernel's key (a BLAKE3 digest of its IR DAG and context) and the files.
#include "runtime/object_cache.hpp"

#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <cpuid.h>
#include <sys/platform/x86.h>
#define GRADC_GLIBC_CPUID 1
#endif

namespace gradc {
namespace fs = std::filesystem;
namespace {

// The file: a 64-byte header, the data layout, then the object.
constexpr char kMagic[8] = {'g', 'r', 'a', 'd', 'c', 'o', 'b', 'j'};
constexpr std::uint32_t kFormat = 2;
struct Header {
  char magic[8];
  std::uint32_t format;
  std::uint32_t layout_bytes;
  CacheKey key;
  std::uint64_t length;    // of the object
  std::uint64_t checksum;  // xxh3 of the layout and the object
};
static_assert(sizeof(Header) == 64);

std::uint64_t checksum(std::string_view bytes) {
  return llvm::xxh3_64bits(llvm::ArrayRef<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

// The DAG's bytes, hashed in blocks (a million-node graph is not held twice in memory).
class Digest {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes(&v, sizeof v);
  }
  void text(std::string_view s) {
    put<std::uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void bytes(const void* p, std::size_t n) {
    buf_.append(static_cast<const char*>(p), n);
    if (buf_.size() >= (1 << 16)) flush();
  }
  CacheKey finish() {
    if (!large_) {
      llvm::SHA256 sha;
      sha.update(llvm::StringRef(buf_));
      std::array<std::uint8_t, 32> digest = sha.final();
      CacheKey key;
      std::copy(digest.begin(), digest.end(), key.begin());
      return key;
    }
    flush();
    return hasher_.final();
  }

 private:
  void flush() {
    large_ = true;
    hasher_.update(llvm::StringRef(buf_));
    buf_.clear();
  }
  bool large_ = false;
  llvm::BLAKE3 hasher_;
  std::string buf_;
};

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += digits[p[i] >> 4], s += digits[p[i] & 15];
  return s;
}

int build_id_of(dl_phdr_info* info, std::size_t, void* data) {
  auto* out = static_cast<std::string*>(data);
  auto self = reinterpret_cast<ElfW(Addr)>(&runtime_build_id);
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    ElfW(Addr) start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && self >= start && self < start + ph.p_memsz) mine = true;
  }
  if (!mine) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof note);
      const char* name = p + sizeof note;
      const char* desc = name + ((note.n_namesz + 3) & ~3u);
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
          desc + note.n_descsz <= end) {
        *out = hex(reinterpret_cast<const std::uint8_t*>(desc), note.n_descsz);
        return 1;
      }
      p = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

bool read_whole(const fs::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (ok && done < out.size()) {
      ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false;
      else done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return ok;
}

bool write_whole(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string default_cache_dir() {
  const char* off = std::getenv("GRADC_NO_CACHE");
  if (off && *off) return "";
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return (fs::path(xdg) / "gradc").string();
  const char* home = std::getenv("HOME");
  if (home && *home == '/') return (fs::path(home) / ".cache" / "gradc").string();
  return "";
}

std::string host_cpu_signature() {
#ifdef GRADC_GLIBC_CPUID
  static const std::string signature = [] {
    std::uint32_t words[4 + 9 * 8 + 3] = {};
    std::uint32_t* w = words;
    unsigned max_leaf, vendor[3];
    __cpuid(0, max_leaf, vendor[0], vendor[2], vendor[1]);
    *w++ = max_leaf, *w++ = vendor[0], *w++ = vendor[1], *w++ = vendor[2];
    // glibc's leaves, CPUID_INDEX_1 to CPUID_INDEX_14_ECX_0: the raw words, then the usable ones.
    for (unsigned leaf = 0; leaf < 9; ++leaf) {
      const cpuid_feature* f = __x86_get_cpuid_feature_leaf(leaf);
      std::memcpy(w, f, 8 * sizeof(std::uint32_t));
      w += 8;
    }
    words[4 + 1] &= 0x00ffffffu;  // leaf 1's ebx: the initial APIC ID, the core it ran on
    const cpuid_feature* leaf1 = __x86_get_cpuid_feature_leaf(CPUID_INDEX_1);
    const cpuid_feature* leaf7_1 = __x86_get_cpuid_feature_leaf(CPUID_INDEX_7_ECX_1);
    if (leaf1->cpuid_array[2] & (1u << 27)) {  // OSXSAVE: the OS enables xgetbv
      std::uint32_t lo, hi;
      asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      *w++ = lo, *w++ = hi;
    }
    if (max_leaf >= 0x24 && (leaf7_1->cpuid_array[3] & (1u << 19))) {  // AVX10: its version and widths
      unsigned a, b, c, d;
      __cpuid_count(0x24, 0, a, b, c, d);
      *w++ = b;
    }
    return hex(reinterpret_cast<const std::uint8_t*>(words), static_cast<std::size_t>(w - words) * sizeof *words);
  }();
  return signature;
#else
  return "";
#endif
}

std::string runtime_build_id() {
  static const std::string id = [] {
    std::string found;
    dl_iterate_phdr(build_id_of, &found);
    return found;
  }();
  return id;
}

CacheKey cache_key(const KernelSpec& spec, const TargetInfo& target, std::string_view context) {
  Digest d;
  d.text("gradc kernel 1");
  d.text(context);
  d.put(target.threads), d.put(target.contract);
  d.put(spec.batch), d.put(spec.dtype);
  std::vector<const Node*> roots(spec.outputs.begin(), spec.outputs.end());
  roots.insert(roots.end(), spec.inputs.begin(), spec.inputs.end());
  // Positions in this list stand for the nodes: the digest does not depend on the graph's other
  // nodes, only on the kernel's, and on their relative creation order (which codegen follows).
  std::vector<const Node*> nodes = reachable(roots);
  std::unordered_map<const Node*, std::uint32_t> pos;
  pos.reserve(nodes.size());
  d.put<std::uint64_t>(nodes.size());
  for (const Node* n : nodes) {
    pos.emplace(n, static_cast<std::uint32_t>(pos.size()));
    d.put(n->op), d.put(n->nargs);
    for (int i = 0; i < n->nargs; ++i) d.put(pos.at(n->arg(i)));
    d.put(n->shape.rank), d.put(n->shape.dims);
    d.put(n->axis), d.put(n->index), d.put(n->dtype);
    d.put(std::bit_cast<std::uint64_t>(n->value));
    d.text(n->name);
    if (n->data) {
      d.put<std::uint64_t>(n->data->size());
      d.bytes(n->data->data(), n->data->size() * sizeof(double));
    } else {
      d.put<std::uint64_t>(~std::uint64_t(0));
    }
  }
  d.put<std::uint64_t>(spec.inputs.size());
  for (const Node* n : spec.inputs) d.put(pos.at(n));
  d.put<std::uint64_t>(spec.outputs.size());
  for (const Node* n : spec.outputs) d.put(pos.at(n));
  return d.finish();
}

ObjectCache::ObjectCache(fs::path dir, std::uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

fs::path ObjectCache::path(const CacheKey& key) const { return dir_ / (hex(key.data(), key.size()) + ".o"); }

std::optional<std::string> ObjectCache::load(const CacheKey& key, std::string* layout) const {
  fs::path file = path(key);
  std::string bytes;
  if (!read_whole(file, bytes) || bytes.size() < sizeof(Header)) return std::nullopt;
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  std::string_view body = std::string_view(bytes).substr(sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.format != kFormat || h.key != key ||
      h.layout_bytes > body.size() || h.length != body.size() - h.layout_bytes || h.checksum != checksum(body))
    return std::nullopt;
  ::utimensat(AT_FDCWD, file.c_str(), nullptr, 0);  // recently used: evicted last
  if (layout) layout->assign(body.substr(0, h.layout_bytes));
  return std::string(body.substr(h.layout_bytes));
}

bool ObjectCache::store(const CacheKey& key, std::string_view object, std::string_view layout) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return false;
  // A name no other process or thread uses: the rename below is what publishes the file.
  static std::atomic<std::uint64_t> serial{0};
  fs::path tmp = dir_ / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial++) + "-" + hex(key.data(), 8));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.format = kFormat;
  std::string body;
  body.reserve(layout.size() + object.size());
  body.append(layout).append(object);
  h.layout_bytes = static_cast<std::uint32_t>(layout.size());
  h.key = key;
  h.length = object.size();
  h.checksum = checksum(body);
  bool ok = write_whole(fd, std::string_view(reinterpret_cast<const char*>(&h), sizeof h)) && write_whole(fd, body);
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), path(key).c_str()) == 0;
  if (!ok) {
    ::unlink(tmp.c_str());
    return false;
  }
  if (key[0] < 16) trim();
  return true;
}

void ObjectCache::trim() const {
  struct Entry {
    fs::path path;
    std::uint64_t bytes;
    fs::file_time_type time;
  };
  std::vector<Entry> entries;
  std::uint64_t total = 0;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code e;
    auto time = fs::last_write_time(p, e);
    if (e) continue;
    std::string name = p.filename().string();
    // A temporary file an hour old belongs to a process that died while writing it.
    if (name.rfind(".tmp-", 0) == 0) {
      if (now - time > std::chrono::hours(1)) fs::remove(p, e);
      continue;
    }
    if (p.extension() != ".o" || !it->is_regular_file(e)) continue;
    std::uint64_t bytes = fs::file_size(p, e);
    if (e) continue;
    entries.push_back({p, bytes, time});
    total += bytes;
  }
  if (total <= max_bytes_) return;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.time < b.time; });
  for (const Entry& en : entries) {
    if (total <= max_bytes_ / 4 * 3) break;
    std::error_code e;
    if (fs::remove(en.path, e)) total -= en.bytes;
  }
}

}  // namespace gradc
