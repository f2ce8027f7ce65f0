// Test support: the payloads exactness tests publish, and where they cut.
//
//   std::string p = TestPayload("orders.eu", 7);   // {"s":"orders.eu","n":7}
//   SeqOf(p) == 7; StreamOf(p) == "orders.eu";
#pragma once

#include <random>
#include <string>
#include <vector>

namespace herald::testing {

std::string TestPayload(const std::string& stream, int n);
// -1 / "" when the payload is not one of ours.
int SeqOf(const std::string& payload);
std::string StreamOf(const std::string& payload);

// `cuts` cut points for a client expecting `expected` events: one random
// point in each of `cuts` equal slices, so cuts are spread over the run.
std::vector<int> CutPoints(int expected, int cuts, std::mt19937& rng);

}  // namespace herald::testing
