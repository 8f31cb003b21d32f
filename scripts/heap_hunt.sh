#!/bin/sh
# Loops the tests that touch native memory (our native.c through FFI, OpenBLAS, Mesa's Vulkan
# through Deno's WebGPU) under a heap checker, to find where a heap corruption comes from
# (issue 24: glibc once printed "corrupted size vs. prev_size in fastbins" during the webgpu tests).
#
#   sh scripts/heap_hunt.sh malloc-check 20   # glibc's checking malloc (libc_malloc_debug.so)
#   sh scripts/heap_hunt.sh asan 10           # native.c built with AddressSanitizer, libasan preloaded
#
# Each loop runs the webgpu test file and the native and blas kernel test folders once (or the
# files HEAP_HUNT_TESTS names); every log goes to
# out/heap-hunt/<mode>-<n>.log, and the last line counts loops, failures and heap reports.
set -u
mode=${1:-malloc-check}
loops=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
deno=${DENO:-$root/.tools/node_modules/.bin/deno}
[ -x "$deno" ] || deno=deno
logs=out/heap-hunt
mkdir -p "$logs"
tests=${HEAP_HUNT_TESTS:-"tests/engine/webgpu_test.ts tests/engine/kernels/native/ tests/engine/kernels/blas/"}
reports='corrupted|double free|free\(\): invalid|malloc\(\)|malloc_consolidate|AddressSanitizer|heap-buffer-overflow|use-after-free|munmap_chunk|realloc\(\)'

case "$mode" in
  malloc-check)
    debug=/lib/$(uname -m)-linux-gnu/libc_malloc_debug.so.0
    [ -e "$debug" ] || { echo "heap_hunt: $debug is missing (glibc >= 2.34 ships it)" >&2; exit 1; }
    # MALLOC_CHECK_=3: report and abort on the first inconsistency glibc sees; MALLOC_PERTURB_ fills
    # freed and new memory with a pattern, so a read of freed memory shows.
    run() { LD_PRELOAD=$debug MALLOC_CHECK_=3 MALLOC_PERTURB_=165 "$deno" test -A $tests; }
    ;;
  asan)
    asan=$(gcc -print-file-name=libasan.so)
    [ -e "$asan" ] || { echo "heap_hunt: gcc has no libasan (sudo apt-get install libasan8)" >&2; exit 1; }
    lib=$logs/native-asan.so
    flags=$("$deno" eval 'import { buildPlan, supportedIsas } from "./lib/engine/kernels/native/build.ts";
      console.log(buildPlan(supportedIsas()[0], { os: "linux", arch: Deno.build.arch,
        compilerVersion: "gcc" }).flags.join(" "))')
    # shellcheck disable=SC2086
    gcc $flags -g -fno-omit-frame-pointer -fsanitize=address -o "$lib" \
      lib/engine/kernels/native/native.c -lm || exit 1
    # Deno is not built with ASan: preload the runtime; leaks and Deno's own allocations are not
    # what we look for, so only overflows and use-after-free in instrumented code report.
    # CIFAR10_NATIVE names the instrumented library; the two tests of building the cached per-ISA
    # libraries skip (they say so), every kernel test runs on the instrumented code.
    run() {
      LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:halt_on_error=1 \
        CIFAR10_NATIVE=$root/$lib "$deno" test -A $tests
    }
    ;;
  *) echo "heap_hunt: expected mode malloc-check or asan, found \"$mode\"" >&2; exit 2 ;;
esac

failed=0 found=0 i=1
while [ "$i" -le "$loops" ]; do
  log=$logs/$mode-$i.log
  run >"$log" 2>&1
  code=$?
  [ "$code" -eq 0 ] || failed=$((failed + 1))
  if grep -Eq "$reports" "$log"; then
    found=$((found + 1))
    echo "loop $i: heap report in $log:" >&2
    grep -E "$reports" "$log" | head -n 5 >&2
  fi
  echo "loop $i/$loops: exit $code" >&2
  i=$((i + 1))
done
echo "heap_hunt $mode: $loops loops, $failed failed, $found with a heap report (logs in $logs/)"
