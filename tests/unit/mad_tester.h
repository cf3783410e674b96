// The mad family's tester is the generic kernel tester (kernel_tester.h).
#pragma once

#include "kernel_tester.h"

namespace tern::test {

using MadTester = KernelTester;

}  // namespace tern::test
