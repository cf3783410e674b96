// Machine limits measured in-process, so kernel figures can be read as a share
// of what this CPU can do right now (the machine is shared and noisy).
#pragma once

namespace tern::tuner {

// Read bandwidth of one thread streaming a buffer far larger than L3, GB/s (median of 5).
double read_bandwidth_gbs();
// Int8 multiply-add peak of one thread in GOPS (2 ops per MAC): independent chains of
// vpmaddubsw + vpmaddwd + vpaddd on 32-byte registers (median of 5). 0 without AVX2.
double int8_peak_gops();

}  // namespace tern::tuner
