/*
 * test_time.h - bounds on time in unit tests.
 *
 * Tests assert behaviour, not speed; a few must still tell linear work from quadratic
 * work (a document of 5,000 fields validated in milliseconds, not minutes). Their bounds
 * are what a quiet machine needs, times RJ_TEST_TIME_SCALE: room for a busy 2-core CI
 * machine, and ten times more under the sanitizers (tests/unit/CMakeLists.txt sets it).
 * Quadratic work at these sizes misses the scaled bounds by orders of magnitude still.
 */
#ifndef RJ_TESTS_UNIT_TEST_TIME_H
#define RJ_TESTS_UNIT_TEST_TIME_H

#ifndef RJ_TEST_TIME_SCALE
#define RJ_TEST_TIME_SCALE 4
#endif

/** @p ms on a quiet machine, scaled for this build and machine. */
#define RJ_TEST_MS(ms) ((double)(ms) * RJ_TEST_TIME_SCALE)

#endif
