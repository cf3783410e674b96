#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"

namespace tern::tokenizer {

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->decode(id, special_);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int n = utf8::sequence_length(pending_, i);
    if (n == 0) break;  // a character still waiting for its continuation bytes
    if (n > 0) {
      out.append(pending_, i, n);
      i += n;
    } else {
      utf8::append(out, utf8::kReplacement);
      i += -n;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (!pending_.empty()) utf8::append(out, utf8::kReplacement);
  pending_.clear();
  return out;
}

}  // namespace tern::tokenizer
