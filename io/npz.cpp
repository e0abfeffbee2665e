// A minimal ZIP writer and reader (stored entries only) and the .npy format v1.0.
#include "io/npz.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace gradc {
namespace {

std::uint32_t crc32(const std::string& data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

void put16(std::string& s, std::uint32_t v) { s += static_cast<char>(v & 0xff), s += static_cast<char>((v >> 8) & 0xff); }
void put32(std::string& s, std::uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }
std::uint32_t get16(const std::string& s, std::size_t at) {
  if (at + 2 > s.size()) throw std::runtime_error("truncated archive");
  return static_cast<unsigned char>(s[at]) | static_cast<unsigned char>(s[at + 1]) << 8;
}
std::uint32_t get32(const std::string& s, std::size_t at) { return get16(s, at) | get16(s, at + 2) << 16; }

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

// n little-endian values of type V at p, as doubles.
template <class V>
void append(std::vector<double>& out, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    V v;
    std::memcpy(&v, p + i * sizeof(V), sizeof(V));
    out.push_back(static_cast<double>(v));
  }
}

Tensor parse_npy(const std::string& b, const std::string& name) {
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(name + " is not an .npy array");
  std::size_t hlen = b[6] == 1 ? get16(b, 8) : get32(b, 8);
  std::size_t start = b[6] == 1 ? 10 : 12;
  if (start + hlen > b.size()) throw std::runtime_error(name + ": truncated header");
  std::string h = b.substr(start, hlen);
  bool f8 = h.find("'<f8'") != std::string::npos, f4 = h.find("'<f4'") != std::string::npos;
  bool i8 = h.find("'<i8'") != std::string::npos;  // np.array(600): an optimizer counter
  if (!f8 && !f4 && !i8) throw std::runtime_error(name + ": only float64, float32 and int64 arrays are supported");
  if (h.find("'fortran_order': True") != std::string::npos) throw std::runtime_error(name + ": Fortran order is not supported");
  auto open = h.find("'shape': (");
  if (open == std::string::npos) throw std::runtime_error(name + ": no shape in the header");
  std::vector<std::int64_t> dims;
  for (std::size_t i = open + 10; i < h.size() && h[i] != ')';) {
    if (h[i] >= '0' && h[i] <= '9') {
      std::size_t used = 0;
      dims.push_back(std::stoll(h.substr(i), &used));
      i += used;
    } else {
      ++i;
    }
  }
  Tensor t{Shape::of(dims), {}};
  std::size_t n = static_cast<std::size_t>(t.shape.size()), size = f4 ? 4 : 8;
  if (start + hlen + n * size > b.size()) throw std::runtime_error(name + ": truncated data");
  const char* p = b.data() + start + hlen;
  if (f8) {
    append<double>(t.data, p, n);
  } else if (f4) {
    append<float>(t.data, p, n);
  } else {
    append<std::int64_t>(t.data, p, n);
  }
  return t;
}

}  // namespace

std::string npz_bytes(const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::string zip, central;
  for (const auto& [name, t] : arrays) {
    std::string file = name + ".npy", data = npy(t);
    std::uint32_t crc = crc32(data), offset = static_cast<std::uint32_t>(zip.size());
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

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& b) {
  std::vector<std::pair<std::string, Tensor>> out;
  std::size_t at = 0;
  while (at + 4 <= b.size() && get32(b, at) == 0x04034b50u) {
    std::uint32_t flags = get16(b, at + 6), method = get16(b, at + 8);
    std::uint32_t size = get32(b, at + 18), name_len = get16(b, at + 26), extra = get16(b, at + 28);
    if (method != 0) throw std::runtime_error("compressed .npz archives are not supported (save with numpy.savez)");
    if (flags & 8) throw std::runtime_error("streamed ZIP entries are not supported");
    std::string file = b.substr(at + 30, name_len);
    std::size_t data = at + 30 + name_len + extra;
    if (data + size > b.size()) throw std::runtime_error("truncated archive");
    if (file.size() < 4 || file.compare(file.size() - 4, 4, ".npy") != 0)
      throw std::runtime_error("'" + file + "' in the archive is not an .npy array");
    out.emplace_back(file.substr(0, file.size() - 4), parse_npy(b.substr(data, size), file));
    at = data + size;
  }
  if (out.empty()) throw std::runtime_error("not an .npz archive");
  return out;
}

}  // namespace gradc
