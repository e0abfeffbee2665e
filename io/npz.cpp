// NumPy's .npz: a ZIP archive of .npy arrays. The writer stores entries uncompressed; the
// reader walks the central directory (so streamed entries and archives with comments work),
// reads ZIP64 sizes and offsets, inflates deflated entries with zlib (numpy.savez_compressed),
// checks each entry's CRC-32, and converts .npy v1-v3 arrays of any numeric dtype, either byte
// order, C or Fortran order, to float64 in C order. Every size read from the file is checked
// before it is used: a hostile archive gets an error, never an out-of-bounds read.
#include "io/npz.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace gradc {
namespace {

// The compiler's limit on the elements of one tensor (compiler/model.cpp): a larger array could
// not be a parameter anyway, and its size must not be trusted before the allocation.
constexpr std::uint64_t kMaxElements = std::uint64_t(1) << 27;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void put16(std::string& s, std::uint32_t v) { s += static_cast<char>(v & 0xff), s += static_cast<char>((v >> 8) & 0xff); }
void put32(std::string& s, std::uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }

// Little-endian fields of `s`, bounds-checked.
std::uint64_t get(std::string_view s, std::uint64_t at, int bytes) {
  if (at > s.size() || static_cast<std::uint64_t>(bytes) > s.size() - at) fail("truncated archive");
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[at + static_cast<std::uint64_t>(i)]);
  return v;
}
std::uint32_t get16(std::string_view s, std::uint64_t at) { return static_cast<std::uint32_t>(get(s, at, 2)); }
std::uint32_t get32(std::string_view s, std::uint64_t at) { return static_cast<std::uint32_t>(get(s, at, 4)); }
std::uint64_t get64(std::string_view s, std::uint64_t at) { return get(s, at, 8); }

std::uint32_t crc_of(std::string_view data) {
  uLong c = crc32(0L, Z_NULL, 0);
  for (std::size_t at = 0; at < data.size();) {  // crc32 takes 32-bit lengths
    uInt n = static_cast<uInt>(std::min<std::size_t>(data.size() - at, 1u << 30));
    c = crc32(c, reinterpret_cast<const Bytef*>(data.data() + at), n);
    at += n;
  }
  return static_cast<std::uint32_t>(c);
}

// .npy v1.0: magic, version, header length, a Python dict literal padded to 64 bytes, data.
std::string npy(const Tensor& t) {
  // Python tuple syntax: (), (3,), (2, 8)
  std::string shape = "(";
  for (int i = 0; i < t.shape.rank; ++i) shape += fmt::format("{}{}", i ? ", " : "", t.shape[i]);
  shape += t.shape.rank == 1 ? ",)" : ")";
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  std::size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  put16(out, static_cast<std::uint32_t>(header.size()));
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(double));
  return out;
}

// The value of `key` in the .npy header dict: a quoted string, True/False, or a tuple.
std::string_view field(std::string_view h, std::string_view key, const std::string& name) {
  std::string quoted = fmt::format("'{}'", key);
  std::size_t at = h.find(quoted);
  if (at == std::string_view::npos) fail(fmt::format("{}: no {} in the .npy header", name, quoted));
  at = h.find(':', at + quoted.size());
  if (at == std::string_view::npos) fail(fmt::format("{}: malformed .npy header", name));
  ++at;
  while (at < h.size() && h[at] == ' ') ++at;
  std::size_t end = at;
  if (at < h.size() && (h[at] == '\'' || h[at] == '"')) {
    end = h.find(h[at], at + 1);
    if (end == std::string_view::npos) fail(fmt::format("{}: malformed .npy header", name));
    return h.substr(at + 1, end - at - 1);
  }
  if (at < h.size() && h[at] == '(') {
    end = h.find(')', at);
    if (end == std::string_view::npos) fail(fmt::format("{}: malformed .npy header", name));
    return h.substr(at, end - at + 1);
  }
  while (end < h.size() && h[end] != ',' && h[end] != '}') ++end;
  return h.substr(at, end - at);
}

// A dtype gradc reads: its kind ('f' float, 'i' signed, 'u' unsigned, 'b' bool), item size and
// byte order.
struct DType {
  char kind;
  int size;
  bool swap;  // big-endian data on this little-endian machine
};

DType parse_dtype(std::string_view d, const std::string& name) {
  static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");
  if (d.size() >= 2 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    char kind = d[1];
    std::string_view digits = d.substr(2);
    int size = digits.size() == 1 && digits[0] >= '1' && digits[0] <= '8' ? digits[0] - '0' : 0;
    bool ok = (kind == 'f' && (size == 4 || size == 8)) ||
              ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
              (kind == 'b' && size == 1);
    if (ok) return DType{kind, size, d[0] == '>' && size > 1};
    if (kind == 'O') fail(fmt::format("{} is an array of Python objects (dtype 'O'), which gradc cannot read: save a numeric array", name));
  }
  fail(fmt::format("{} has dtype '{}': gradc reads float64, float32, integer and bool arrays", name, d));
}

// One element at p as a double.
double element(const char* p, const DType& t) {
  unsigned char b[8];
  std::memcpy(b, p, static_cast<std::size_t>(t.size));
  if (t.swap) std::reverse(b, b + t.size);
  auto as = [&]<class V>(V) {
    V v;
    std::memcpy(&v, b, sizeof v);
    return static_cast<double>(v);
  };
  switch (t.kind) {
    case 'f': return t.size == 8 ? as(double{}) : as(float{});
    case 'b': return b[0] ? 1.0 : 0.0;
    case 'i':
      switch (t.size) {
        case 1: return as(std::int8_t{});
        case 2: return as(std::int16_t{});
        case 4: return as(std::int32_t{});
        default: return as(std::int64_t{});
      }
    default:
      switch (t.size) {
        case 1: return as(std::uint8_t{});
        case 2: return as(std::uint16_t{});
        case 4: return as(std::uint32_t{});
        default: return as(std::uint64_t{});
      }
  }
}

// (3,) or (2, 8) or (): whole numbers of at least 1, with a product within kMaxElements.
std::vector<std::int64_t> parse_shape(std::string_view s, const std::string& name) {
  std::vector<std::int64_t> dims;
  std::uint64_t product = 1;
  std::size_t i = 1;
  auto malformed = [&] { fail(fmt::format("{}: malformed shape {} in the .npy header", name, s)); };
  while (i < s.size() && s[i] != ')') {
    if (s[i] == ' ' || s[i] == ',') {
      ++i;
      continue;
    }
    if (s[i] < '0' || s[i] > '9') malformed();
    std::uint64_t d = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      d = d * 10 + static_cast<std::uint64_t>(s[i++] - '0');
      if (d > kMaxElements) fail(fmt::format("{}: shape {} has more than {} elements", name, s, kMaxElements));
    }
    if (d == 0) fail(fmt::format("{}: shape {} has no elements", name, s));
    if (__builtin_mul_overflow(product, d, &product) || product > kMaxElements)
      fail(fmt::format("{}: shape {} has more than {} elements", name, s, kMaxElements));
    dims.push_back(static_cast<std::int64_t>(d));
  }
  if (dims.size() > static_cast<std::size_t>(Shape::kMaxRank))
    fail(fmt::format("{}: shape {} has {} dimensions; gradc's tensors have at most {}", name, s, dims.size(),
                     Shape::kMaxRank));
  return dims;
}

Tensor parse_npy(std::string_view b, const std::string& name) {
  if (b.size() < 10 || b.substr(0, 6) != "\x93NUMPY") fail(name + " is not an .npy array");
  int version = static_cast<unsigned char>(b[6]);
  if (version < 1 || version > 3) fail(fmt::format("{}: .npy format version {} is not supported (1 to 3)", name, version));
  std::uint64_t hlen = version == 1 ? get16(b, 8) : get32(b, 8), start = version == 1 ? 10 : 12;
  if (hlen > b.size() - start) fail(name + ": truncated header");
  std::string_view h = b.substr(start, hlen);
  DType dtype = parse_dtype(field(h, "descr", name), name);
  std::string_view order = field(h, "fortran_order", name);
  bool fortran = order == "True";
  if (!fortran && order != "False") fail(fmt::format("{}: malformed fortran_order {}", name, order));
  std::vector<std::int64_t> dims = parse_shape(field(h, "shape", name), name);
  Tensor t{Shape::of(dims), {}};
  std::uint64_t n = static_cast<std::uint64_t>(t.shape.size()), bytes = n * static_cast<std::uint64_t>(dtype.size);
  std::string_view data = b.substr(start + hlen);
  if (data.size() != bytes)
    fail(fmt::format("{}: {} bytes of data for shape {} of {}-byte elements ({} bytes)", name, data.size(),
                     t.shape.str(), dtype.size, bytes));
  t.data.resize(n);
  // Fortran order: the first index varies fastest. Walk the C-order destination and find each
  // element's Fortran offset (at most 3 axes).
  std::array<std::uint64_t, 3> dim{1, 1, 1}, fstride{1, 1, 1};
  for (std::size_t a = 0; a < dims.size(); ++a) dim[a] = static_cast<std::uint64_t>(dims[a]);
  for (std::size_t a = 1; a < dims.size(); ++a) fstride[a] = fstride[a - 1] * dim[a - 1];
  std::uint64_t k = 0;
  for (std::uint64_t i = 0; i < dim[0]; ++i)
    for (std::uint64_t j = 0; j < dim[1]; ++j)
      for (std::uint64_t l = 0; l < dim[2]; ++l, ++k) {
        std::uint64_t src = fortran ? i * fstride[0] + j * fstride[1] + l * fstride[2] : k;
        t.data[k] = element(data.data() + src * static_cast<std::uint64_t>(dtype.size), dtype);
      }
  return t;
}

// Raw deflate (ZIP method 8) of `in` into exactly `size` bytes.
std::string inflate_entry(std::string_view in, std::uint64_t size, const std::string& name) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail(fmt::format("'{}': cannot start zlib", name));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(size);
  int rc = inflate(&z, Z_FINISH);
  std::uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size)
    fail(fmt::format("'{}': the compressed data is corrupt or does not hold {} bytes", name, size));
  return out;
}

struct Entry {
  std::string name;
  std::uint32_t method, flags, crc;
  std::uint64_t compressed, size, offset;
};

// The central directory: (offset, entries, size), from the end record or its ZIP64 version.
std::vector<Entry> directory(std::string_view b) {
  if (b.size() < 22) fail("not an .npz archive (too short for a ZIP file)");
  std::uint64_t eocd = b.size() - 22, lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  while (get32(b, eocd) != 0x06054b50u) {
    if (eocd == lowest) fail("not an .npz archive (no ZIP end of central directory)");
    --eocd;
  }
  std::uint64_t count = get16(b, eocd + 10), cd_size = get32(b, eocd + 12), cd = get32(b, eocd + 16);
  if (eocd >= 20 && get32(b, eocd - 20) == 0x07064b50u) {  // ZIP64 locator
    std::uint64_t z = get64(b, eocd - 12);
    if (get32(b, z) != 0x06064b50u) fail("corrupt ZIP64 end of central directory");
    count = get64(b, z + 32), cd_size = get64(b, z + 40), cd = get64(b, z + 48);
  }
  if (cd > b.size() || cd_size > b.size() - cd) fail("truncated archive (central directory)");
  std::vector<Entry> entries;
  std::uint64_t at = cd;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (get32(b, at) != 0x02014b50u) fail("corrupt ZIP central directory");
    Entry e{"", get16(b, at + 10), get16(b, at + 8), get32(b, at + 16), get32(b, at + 20), get32(b, at + 24),
            get32(b, at + 42)};
    std::uint64_t name_len = get16(b, at + 28), extra_len = get16(b, at + 30), comment_len = get16(b, at + 32);
    if (at + 46 + name_len > b.size()) fail("truncated archive (central directory)");
    e.name = std::string(b.substr(at + 46, name_len));
    // ZIP64 extra field: the 64-bit values of the fields that hold 0xffffffff, in this order.
    for (std::uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      std::uint32_t id = get16(b, x), len = get16(b, x + 2);
      if (id == 0x0001) {
        std::uint64_t p = x + 4, end = x + 4 + len;
        for (std::uint64_t* v : {&e.size, &e.compressed, &e.offset})
          if (*v == 0xffffffffu) {
            if (p + 8 > end) fail(fmt::format("'{}': corrupt ZIP64 extra field", e.name));
            *v = get64(b, p), p += 8;
          }
      }
      x += 4 + len;
    }
    entries.push_back(std::move(e));
    at += 46 + name_len + extra_len + comment_len;
  }
  return entries;
}

}  // namespace

std::string npz_bytes(const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::string zip, central;
  for (const auto& [name, t] : arrays) {
    std::string file = name + ".npy", data = npy(t);
    if (zip.size() + data.size() + 2 * file.size() + 200 > 0xffffffffu)
      throw std::runtime_error("the parameters take more than 4 GiB, past what an .npz archive without ZIP64 holds");
    std::uint32_t crc = crc_of(data), offset = static_cast<std::uint32_t>(zip.size());
    auto header = [&](std::string& s, bool local) {
      put32(s, local ? 0x04034b50u : 0x02014b50u);
      if (!local) put16(s, 20);  // made by
      put16(s, 20);              // version needed
      put16(s, 0);               // flags
      put16(s, 0);               // stored
      put16(s, 0), put16(s, 0x21);  // time, date (1980-01-01)
      put32(s, crc);
      put32(s, static_cast<std::uint32_t>(data.size())), put32(s, static_cast<std::uint32_t>(data.size()));
      put16(s, static_cast<std::uint32_t>(file.size()));
      put16(s, 0);  // extra
      if (!local) {
        put16(s, 0), put16(s, 0), put16(s, 0);  // comment, disk, internal attributes
        put32(s, 0);                            // external attributes
        put32(s, offset);
      }
      s += file;
    };
    header(zip, true);
    zip += data;
    header(central, false);
  }
  std::uint32_t cd_offset = static_cast<std::uint32_t>(zip.size());
  zip += central;
  put32(zip, 0x06054b50u);
  put16(zip, 0), put16(zip, 0);
  put16(zip, static_cast<std::uint32_t>(arrays.size())), put16(zip, static_cast<std::uint32_t>(arrays.size()));
  put32(zip, static_cast<std::uint32_t>(central.size()));
  put32(zip, cd_offset);
  put16(zip, 0);
  return zip;
}

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& bytes) {
  std::string_view b = bytes;
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Entry& e : directory(b)) {
    if (e.flags & 1) fail(fmt::format("'{}' in the archive is encrypted", e.name));
    if (e.method != 0 && e.method != 8)
      fail(fmt::format("'{}' in the archive uses ZIP compression method {}; gradc reads stored and deflated entries "
                       "(numpy.savez and numpy.savez_compressed)",
                       e.name, e.method));
    if (e.name.size() < 4 || e.name.compare(e.name.size() - 4, 4, ".npy") != 0)
      fail(fmt::format("'{}' in the archive is not an .npy array", e.name));
    // An .npy of at most kMaxElements 8-byte values and a header: anything larger is refused
    // before memory is allocated for it.
    if (e.size > kMaxElements * 8 + (std::uint64_t(1) << 20))
      fail(fmt::format("'{}' in the archive is {} bytes, more than an array of {} elements", e.name, e.size, kMaxElements));
    if (get32(b, e.offset) != 0x04034b50u) fail(fmt::format("'{}': corrupt ZIP local header", e.name));
    std::uint64_t data = e.offset + 30 + get16(b, e.offset + 26) + get16(b, e.offset + 28);
    if (data > b.size() || e.compressed > b.size() - data) fail(fmt::format("'{}': truncated archive", e.name));
    std::string_view raw = b.substr(data, e.compressed);
    std::string inflated;
    if (e.method == 8) {
      inflated = inflate_entry(raw, e.size, e.name);
      raw = inflated;
    } else if (e.compressed != e.size) {
      fail(fmt::format("'{}': corrupt ZIP entry (stored, but its sizes differ)", e.name));
    }
    if (crc_of(raw) != e.crc) fail(fmt::format("'{}': CRC-32 mismatch, the archive is corrupt", e.name));
    out.emplace_back(e.name.substr(0, e.name.size() - 4), parse_npy(raw, e.name));
  }
  if (out.empty()) fail("the .npz archive holds no arrays");
  return out;
}

}  // namespace gradc
