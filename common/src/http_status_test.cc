#include "herald/common/http_status.h"

#include "gtest/gtest.h"

namespace herald::common {
namespace {

TEST(HttpStatusTest, MapsAsDesignSays) {
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::ALREADY_EXISTS), 409);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::INTERNAL), 500);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNIMPLEMENTED), 501);
}

TEST(HttpStatusTest, CodeNamesAndErrorBodies) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT), "invalid_argument");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "unauthenticated");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "unknown");
  EXPECT_EQ(JsonErrorBody("not_found", "no \"x\""),
            "{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"x\\\"\"}}\n");
}

}  // namespace
}  // namespace herald::common
