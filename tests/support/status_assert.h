// Test support: assertions on absl::Status, absl::StatusOr and grpc::Status
// that print the status when it is not OK (a child's log tail, a gRPC error),
// e.g.
//
//   HERALD_ASSERT_OK(mesh.StartEdge({"--heartbeat=2s"}));
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"

namespace herald::testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }

inline absl::Status StatusOf(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace herald::testing

#define HERALD_ASSERT_OK(expr)                                                     \
  do {                                                                             \
    const absl::Status herald_assert_status = ::herald::testing::StatusOf((expr)); \
    ASSERT_TRUE(herald_assert_status.ok()) << herald_assert_status;                \
  } while (0)

#define HERALD_EXPECT_OK(expr)                                                     \
  do {                                                                             \
    const absl::Status herald_expect_status = ::herald::testing::StatusOf((expr)); \
    EXPECT_TRUE(herald_expect_status.ok()) << herald_expect_status;                \
  } while (0)
