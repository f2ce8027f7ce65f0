#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/kafka.h"

namespace herald::broker::internal {
namespace {

using ::testing::HasSubstr;

TEST(KafkaStatusTest, MapsErrorsToWhatCallersActOn) {
  struct Case {
    rd_kafka_resp_err_t err;
    absl::StatusCode code;
  };
  for (const Case& c : {
           Case{RD_KAFKA_RESP_ERR_NO_ERROR, absl::StatusCode::kOk},
           Case{RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, absl::StatusCode::kDeadlineExceeded},
           Case{RD_KAFKA_RESP_ERR__QUEUE_FULL, absl::StatusCode::kResourceExhausted},
           Case{RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, absl::StatusCode::kInvalidArgument},
           Case{RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, absl::StatusCode::kNotFound},
           Case{RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, absl::StatusCode::kOutOfRange},
           Case{RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, absl::StatusCode::kAlreadyExists},
           Case{RD_KAFKA_RESP_ERR__PURGE_QUEUE, absl::StatusCode::kCancelled},
           Case{RD_KAFKA_RESP_ERR__TRANSPORT, absl::StatusCode::kUnavailable},
           Case{RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, absl::StatusCode::kUnavailable},
           Case{RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, absl::StatusCode::kPermissionDenied},
           Case{RD_KAFKA_RESP_ERR__FATAL, absl::StatusCode::kInternal},
       }) {
    EXPECT_EQ(KafkaStatus(c.err, "ctx").code(), c.code) << rd_kafka_err2name(c.err);
  }
}

TEST(KafkaStatusTest, MessageNamesContextAndError) {
  absl::Status s = KafkaStatus(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "produce to herald.events");
  EXPECT_THAT(s.message(), HasSubstr("produce to herald.events"));
  EXPECT_THAT(s.message(), HasSubstr("_MSG_TIMED_OUT"));
}

}  // namespace
}  // namespace herald::broker::internal
