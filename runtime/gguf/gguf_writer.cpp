// GGUF v3 writer that streams tensor data: the header is built in memory (it is small),
// tensor bytes pass through a 1 MiB buffer, and the output appears under its real name
// only after everything was written and synced.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/gguf/gguf.h"
#include "runtime/gguf/gguf_format.h"

namespace tern::gguf {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

// Appends the little-endian encoding of metadata to an in-memory header.
class HeaderEncoder {
 public:
  std::vector<uint8_t>& bytes() { return out_; }

  void put_bytes(const void* p, size_t n) {
    const size_t old = out_.size();
    out_.resize(old + n);
    if (n) std::memcpy(out_.data() + old, p, n);
  }

  template <class T>
  void put(T v) {
    put_bytes(&v, sizeof(T));
  }

  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    put_bytes(s.data(), s.size());
  }

  void put_value(const Value& v) {
    std::visit([&](const auto& x) { put_payload(x); }, v.storage());
  }

 private:
  template <class T>
  void put_payload(const T& x) {
    put<T>(x);
  }
  void put_payload(bool b) { put<uint8_t>(b ? 1 : 0); }
  void put_payload(const std::string& s) { put_string(s); }

  void put_payload(const Array& a) {
    put<uint32_t>(static_cast<uint32_t>(a.element_type()));
    put<uint64_t>(a.size());
    std::visit(
        [&](const auto& items) {
          for (const auto& item : items) put_element(item);
        },
        a.data());
  }

  template <class T>
  void put_element(const T& x) {
    put_payload(x);
  }
  void put_element(std::vector<bool>::const_reference b) { put_payload(static_cast<bool>(b)); }

  std::vector<uint8_t> out_;
};

// The reader rejects deeper nesting, so the writer refuses to produce it.
int array_depth(const Array& a) {
  const auto* nested = a.get_if<Array>();
  int deepest = 0;
  if (nested)
    for (const Array& inner : *nested) deepest = std::max(deepest, array_depth(inner));
  return 1 + deepest;
}

}  // namespace

Writer::Writer(std::string path) : path_(std::move(path)) {
  // Refused before any work: the rename at the end could not replace a directory.
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(path_ + ": is a directory; expected the path of the file to write");
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path_ + ": cannot create " + temp_path_ + ": " + std::strerror(errno));
  buffer_.reserve(kBufferBytes);
}

Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (state_ != State::Finished) ::unlink(temp_path_.c_str());
}

void Writer::fail(const std::string& message) {
  state_ = State::Failed;
  throw Error(path_ + ": " + message);
}

void Writer::fail_errno(const std::string& action) {
  const int e = errno;
  fail(action + " " + temp_path_ + ": " + std::strerror(e));
}

void Writer::require_state(State s, const char* action) const {
  if (state_ == s) return;
  std::string why;
  switch (state_) {
    case State::Declaring:
      why = "the header is not written yet";
      break;
    case State::Writing:
      why = "the header is already written";
      break;
    case State::Finished:
      why = "finish() was already called";
      break;
    case State::Failed:
      why = "an earlier call failed";
      break;
  }
  throw Error(path_ + ": cannot " + action + ": " + why);
}

void Writer::set(std::string key, Value value) {
  require_state(State::Declaring, "set metadata");
  if (key == kAlignmentKey) {
    const auto* a = value.get_if<uint32_t>();
    if (!a || !detail::is_power_of_two(*a))
      throw Error(path_ + ": general.alignment must be a uint32 power of two");
  }
  if (const auto* a = value.get_if<Array>(); a && array_depth(*a) > kMaxArrayDepth)
    throw Error(path_ + ": metadata '" + key + "' nests arrays deeper than " +
                std::to_string(kMaxArrayDepth) + " levels");
  for (KeyValue& kv : kvs_)
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  kvs_.push_back(KeyValue{std::move(key), std::move(value), 0});
}

void Writer::add_tensor(std::string name, GgmlType type, std::span<const uint64_t> dims) {
  require_state(State::Declaring, "add a tensor");
  const std::string what = path_ + ": tensor '" + name + "'";
  if (tensor_index_.count(name)) throw Error(what + " is declared twice");
  if (dims.empty() || dims.size() > kMaxDims)
    throw Error(what + ": " + std::to_string(dims.size()) + " dims, expected 1..4");
  TensorInfo t;
  t.name = std::move(name);
  t.type = type;
  t.n_dims = static_cast<uint32_t>(dims.size());
  std::copy(dims.begin(), dims.end(), t.ne.begin());
  const auto bytes = ggml_tensor_bytes(type, t.dims());
  if (!bytes)
    throw Error(what + ": no valid size for these dims and " + std::string(ggml_type_name(type)) +
                " (zero dim, row length not a multiple of the block, or overflow)");
  t.bytes = *bytes;
  tensor_index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
}

uint32_t Writer::alignment() const {
  for (const KeyValue& kv : kvs_)
    if (kv.key == kAlignmentKey) return *kv.value.get_if<uint32_t>();  // checked in set()
  return kDefaultAlignment;
}

void Writer::write_header() {
  require_state(State::Declaring, "write the header");
  const uint64_t align = alignment();

  // Offsets: each tensor starts aligned, in declaration order.
  uint64_t next = 0;
  for (TensorInfo& t : tensors_) {
    t.offset = next;
    uint64_t end = 0;
    if (__builtin_add_overflow(t.offset, t.bytes, &end) || !detail::align_up(end, align, &next))
      fail("tensor data exceeds 2^64 bytes");
  }

  HeaderEncoder enc;
  enc.put_bytes(detail::kMagic, sizeof detail::kMagic);
  enc.put<uint32_t>(detail::kWriteVersion);
  enc.put<uint64_t>(tensors_.size());
  enc.put<uint64_t>(kvs_.size());
  for (const KeyValue& kv : kvs_) {
    enc.put_string(kv.key);
    enc.put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
    enc.put_value(kv.value);
  }
  for (const TensorInfo& t : tensors_) {
    enc.put_string(t.name);
    enc.put<uint32_t>(t.n_dims);
    for (uint64_t d : t.dims()) enc.put<uint64_t>(d);
    enc.put<uint32_t>(static_cast<uint32_t>(t.type));
    enc.put<uint64_t>(t.offset);
  }

  detail::align_up(enc.bytes().size(), align, &data_offset_);
  for (TensorInfo& t : tensors_) t.file_offset = data_offset_ + t.offset;
  state_ = State::Writing;
  emit(enc.bytes().data(), enc.bytes().size());
  emit_zeros(data_offset_ - enc.bytes().size());
}

void Writer::write_tensor(std::string_view name, const void* data, size_t bytes) {
  if (state_ == State::Declaring) write_header();
  require_state(State::Writing, "write tensor data");
  if (current_ >= tensors_.size())
    fail("tensor '" + std::string(name) + "': all declared tensors are already written");

  const TensorInfo& t = tensors_[current_];
  if (name != t.name) {
    const std::string got = "got data for tensor '" + std::string(name) + "' while tensor '" + t.name +
                            "' (#" + std::to_string(current_) + ") ";
    if (current_written_ == 0) fail(got + "is next: tensors must be written in declaration order");
    fail(got + "has only " + std::to_string(current_written_) + " of its " + std::to_string(t.bytes) +
         " bytes");
  }
  if (bytes > t.bytes - current_written_)
    fail("tensor '" + t.name + "' is " + std::to_string(t.bytes) + " bytes; " + std::to_string(bytes) +
         " more after " + std::to_string(current_written_) + " would overrun it");

  emit(data, bytes);
  current_written_ += bytes;
  if (current_written_ == t.bytes) finish_current_tensor();
}

// Pads to the next tensor's offset (or the aligned end, as ggml writes it) and moves on.
void Writer::finish_current_tensor() {
  const TensorInfo& t = tensors_[current_];
  uint64_t end = 0;
  detail::align_up(t.offset + t.bytes, alignment(), &end);  // cannot overflow: checked in write_header
  emit_zeros(end - t.offset - t.bytes);
  ++current_;
  current_written_ = 0;
}

void Writer::finish() {
  if (state_ == State::Declaring) write_header();
  require_state(State::Writing, "finish");
  if (current_ < tensors_.size()) {
    const TensorInfo& t = tensors_[current_];
    fail("tensor '" + t.name + "' received " + std::to_string(current_written_) + " of its " +
         std::to_string(t.bytes) + " bytes (" + std::to_string(tensors_.size() - current_) +
         " tensors incomplete)");
  }
  flush();
  // Synced before the rename so that, after a crash, the name never points at a file
  // whose data did not reach the disk.
  if (::fsync(fd_) != 0) fail_errno("cannot sync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno("cannot close");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    fail("cannot rename " + temp_path_ + " to " + path_ + ": " + std::strerror(e));
  }
  state_ = State::Finished;
}

void Writer::emit(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (buffer_.size() + n > kBufferBytes) flush();
  if (n >= kBufferBytes) {  // large chunks skip the buffer
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w == 0) errno = EIO;  // no progress and no error code: do not spin
      if (w <= 0) fail_errno("cannot write");
      p += w;
      n -= static_cast<size_t>(w);
    }
    return;
  }
  buffer_.insert(buffer_.end(), p, p + n);
}

void Writer::emit_zeros(uint64_t n) {
  static const uint8_t zeros[256] = {};
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof zeros));
    emit(zeros, k);
    n -= k;
  }
}

void Writer::flush() {
  const uint8_t* p = buffer_.data();
  size_t n = buffer_.size();
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) fail_errno("cannot write");
    p += w;
    n -= static_cast<size_t>(w);
  }
  buffer_.clear();
}

}  // namespace tern::gguf
