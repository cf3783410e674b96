// Packers: canonical trits, or a GGUF tensor's bytes, into a kernel's layout
// (layout_of in runtime/core/layout.h is the contract; kernels only read it).
#pragma once

#include <cstdint>
#include <optional>

#include "runtime/core/ggml_type.h"
#include "runtime/core/layout.h"

namespace tern::ref {

// trits: [l.n][l.k] row-major in {-1, 0, 1}; dst: l.total_bytes. Padding rows
// and columns get the zero code. Given another family's layout, packs (and
// unpack_mad unpacks) that family's format instead, as pack_trits does.
void pack_mad(const PackedLayout& l, const int8_t* trits, uint8_t* dst);

// The inverse (tests): dst gets [l.n][l.k] trits.
void unpack_mad(const PackedLayout& l, const uint8_t* packed, int8_t* trits);

// Packs a ternary tensor of type `type` ([l.n][l.k], ggml order ne0 = K) row by
// row, without unpacking the whole tensor first. I2_S rows whose groups match
// the layout's are copied as they are. Returns the tensor's single weight scale;
// throws tern::Error when the type is not ternary (TQ2_0, TQ1_0, I2_S) or when
// its per-block scales differ (such a tensor needs a per-block kernel).
float pack_mad_from_tensor(const PackedLayout& l, GgmlType type, const uint8_t* src, uint8_t* dst);

// lut family (layout_of's lut branch): trits [l.n][l.k] -> l.total_bytes, with
// zero trits for padding rows and columns (and the g = 3 row corrections).
void pack_lut(const PackedLayout& l, const int8_t* trits, uint8_t* dst);
// The inverse (tests): dst gets [l.n][l.k] trits. Throws tern::Error on an index
// that names no trit combination or a correction that disagrees with the signs.
void unpack_lut(const PackedLayout& l, const uint8_t* packed, int8_t* trits);

// Any family: pack_mad / pack_lut as l.family says.
void pack_trits(const PackedLayout& l, const int8_t* trits, uint8_t* dst);
// pack_trits for the tiles [tile_begin, tile_end) (rows tile x n_tile ..., trits still the whole
// [l.n][l.k]): each tile is its own byte range of dst, so threads may pack different tiles at once.
void pack_trits_tiles(const PackedLayout& l, const int8_t* trits, uint8_t* dst, uint64_t tile_begin,
                      uint64_t tile_end);

// pack_mad_from_tensor for any family (l.family): same contract, same errors.
float pack_from_tensor(const PackedLayout& l, GgmlType type, const uint8_t* src, uint8_t* dst);

}  // namespace tern::ref
