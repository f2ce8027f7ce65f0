// The broker layer against a real Kafka broker.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/broker/admin.h"
#include "herald/broker/producer.h"
#include "herald/broker/reader.h"
#include "herald/common/partitioner.h"
#include "support/kafka_env.h"
#include "support/status_assert.h"

namespace herald::broker {
namespace {

using ::herald::testing::TestBootstrap;
using ::herald::testing::UniqueName;
using ::herald::testing::WaitFor;

constexpr absl::Duration kAdminTimeout = absl::Seconds(30);

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_.bootstrap_servers = TestBootstrap();
    ASSERT_FALSE(client_.bootstrap_servers.empty());
    client_.client_id = "broker-integration-test";
    auto admin = Admin::Create(client_);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
  }

  std::string NewTopic(int32_t partitions, PropertyMap configs = {}) {
    std::string topic = UniqueName("broker-test");
    absl::Status s = admin_->EnsureTopic(
        {.name = topic, .partitions = partitions, .configs = std::move(configs)}, kAdminTimeout);
    EXPECT_TRUE(s.ok()) << s;
    return topic;
  }

  std::unique_ptr<Producer> NewProducer(const std::string& topic) {
    auto producer = Producer::Create({.client = client_, .topic = topic});
    EXPECT_TRUE(producer.ok()) << producer.status();
    return producer.ok() ? std::move(*producer) : nullptr;
  }

  std::unique_ptr<Reader> NewReader(const std::string& topic) {
    auto reader = Reader::Create({.client = client_, .topic = topic});
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? std::move(*reader) : nullptr;
  }

  // Reads until `count` records arrived or the deadline passed.
  std::vector<Record> ReadN(Reader& reader, size_t count, absl::Duration timeout) {
    std::vector<Record> records;
    WaitFor(
        [&] {
          absl::StatusOr<Batch> batch = reader.Poll(1000, absl::Milliseconds(100));
          if (batch.ok()) {
            for (Record& r : batch->records) records.push_back(std::move(r));
          }
          return records.size() >= count;
        },
        timeout, absl::ZeroDuration());
    return records;
  }

  ClientConfig client_;
  std::unique_ptr<Admin> admin_;
};

TEST_F(BrokerTest, TenThousandRecordsOverFiftyKeysKeepOrderAndPositions) {
  constexpr int kPartitions = 6;
  constexpr int kKeys = 50;
  constexpr int kRecords = 10'000;
  const std::string topic = NewTopic(kPartitions);
  auto producer = NewProducer(topic);
  ASSERT_NE(producer, nullptr);

  absl::Mutex mu;
  std::map<std::pair<int, int>, Position> acked;  // (key, seq) -> position
  std::vector<absl::Status> failures;
  for (int i = 0; i < kRecords; ++i) {
    const int key = i % kKeys;
    const int seq = i / kKeys;
    const std::string value = absl::StrCat("k", key, ":", seq);
    const Header header{"herald-test-seq", absl::StrCat(seq)};
    absl::Status queued = producer->Produce(absl::StrCat("stream-", key), value, {&header, 1},
                                            [&, key, seq](absl::StatusOr<Position> p) {
                                              absl::MutexLock lock(&mu);
                                              if (p.ok()) {
                                                acked[{key, seq}] = *p;
                                              } else {
                                                failures.push_back(p.status());
                                              }
                                            });
    ASSERT_TRUE(queued.ok()) << queued;
  }
  HERALD_ASSERT_OK(producer->Flush(absl::Seconds(60)));
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(failures.empty()) << failures.front();
    ASSERT_EQ(acked.size(), static_cast<size_t>(kRecords));
    for (const auto& [key_seq, position] : acked) {
      // Each stream lives in the partition Java's partitioner gives its key.
      ASSERT_EQ(position.partition,
                common::PartitionForKey(absl::StrCat("stream-", key_seq.first), kPartitions));
    }
  }

  auto reader = NewReader(topic);
  ASSERT_NE(reader, nullptr);
  std::vector<Position> starts;
  for (int p = 0; p < kPartitions; ++p) starts.push_back({p, kOffsetBeginning});
  HERALD_ASSERT_OK(reader->Assign(starts));
  std::vector<Record> records = ReadN(*reader, kRecords, absl::Seconds(60));
  ASSERT_EQ(records.size(), static_cast<size_t>(kRecords));

  std::map<int, int> next_seq;
  std::map<int32_t, int64_t> last_offset;
  for (const Record& r : records) {
    const int key = std::stoi(r.key.substr(strlen("stream-")));
    const int seq = next_seq[key]++;
    ASSERT_EQ(r.value, absl::StrCat("k", key, ":", seq)) << "per-key order broken";
    ASSERT_EQ(r.position, acked.at({key, seq})) << "position differs from the delivery report";
    ASSERT_NE(r.FindHeader("herald-test-seq"), nullptr);
    EXPECT_EQ(*r.FindHeader("herald-test-seq"), absl::StrCat(seq));
    auto it = last_offset.find(r.position.partition);
    ASSERT_TRUE(it == last_offset.end() || it->second < r.position.offset);
    last_offset[r.position.partition] = r.position.offset;
  }
  for (int key = 0; key < kKeys; ++key) EXPECT_EQ(next_seq[key], kRecords / kKeys) << key;

  // Nothing more than what was produced.
  absl::StatusOr<Batch> extra = reader->Poll(10, absl::Milliseconds(200));
  HERALD_ASSERT_OK(extra);
  EXPECT_TRUE(extra->records.empty());
}

TEST_F(BrokerTest, SeekReadsFromExactlyThere) {
  const std::string topic = NewTopic(1);
  auto producer = NewProducer(topic);
  for (int i = 0; i < 100; ++i) {
    HERALD_ASSERT_OK(producer->Produce("s", absl::StrCat("v", i), {}, [](auto) {}));
  }
  HERALD_ASSERT_OK(producer->Flush(absl::Seconds(30)));

  auto reader = NewReader(topic);
  HERALD_ASSERT_OK(reader->Assign({{{0, 10}}}));
  std::vector<Record> first = ReadN(*reader, 5, absl::Seconds(30));
  ASSERT_GE(first.size(), 5u);
  EXPECT_EQ(first[0].position.offset, 10);
  EXPECT_EQ(first[0].value, "v10");

  for (int64_t target : {57, 3, 99, 0}) {
    HERALD_ASSERT_OK(reader->Seek({0, target}));
    EXPECT_EQ(reader->NextOffset(0), target);
    std::vector<Record> after = ReadN(*reader, 1, absl::Seconds(30));
    ASSERT_FALSE(after.empty()) << target;
    EXPECT_EQ(after[0].position.offset, target);
    EXPECT_EQ(after[0].value, absl::StrCat("v", target));
  }

  EXPECT_EQ(reader->Seek({5, 0}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reader->Assign({{{0, -7}}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BrokerTest, EndOfPartitionIsReported) {
  const std::string topic = NewTopic(2);
  auto producer = NewProducer(topic);
  HERALD_ASSERT_OK(producer->ProduceAndWait("only", "x"));
  auto reader = NewReader(topic);
  HERALD_ASSERT_OK(reader->Assign({{{0, kOffsetBeginning}, {1, kOffsetBeginning}}}));
  std::vector<int32_t> ends;
  size_t records = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<Batch> b = reader->Poll(100, absl::Milliseconds(100));
        if (!b.ok()) return false;
        records += b->records.size();
        ends.insert(ends.end(), b->end_of_partition.begin(), b->end_of_partition.end());
        return records == 1 && ends.size() >= 2;
      },
      absl::Seconds(30), absl::ZeroDuration()));
  EXPECT_THAT(ends, ::testing::UnorderedElementsAre(0, 1));
}

TEST_F(BrokerTest, WatermarksAndLogStartAfterRetentionDeletion) {
  // Tiny segments and size retention: closed segments beyond 2 KiB are deleted
  // within seconds (the test broker checks retention every second). Size
  // retention never deletes the active segment, so some records always remain.
  const std::string topic = NewTopic(
      1, {{"segment.bytes", "1024"}, {"retention.bytes", "2048"}, {"file.delete.delay.ms", "0"}});
  auto producer = NewProducer(topic);
  constexpr int kRecords = 60;
  const std::string padding(200, 'p');
  for (int i = 0; i < kRecords; ++i) {
    // One at a time, so that each record is its own batch and segments roll.
    HERALD_ASSERT_OK(producer->ProduceAndWait("s", absl::StrCat(i, ":", padding)));
  }
  auto reader = NewReader(topic);
  absl::StatusOr<Watermarks> w = reader->QueryWatermarks(0, absl::Seconds(10));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->high, kRecords);

  ASSERT_TRUE(WaitFor(
      [&] {
        w = reader->QueryWatermarks(0, absl::Seconds(10));
        return w.ok() && w->low > 0;
      },
      absl::Seconds(60), absl::Milliseconds(200)))
      << "retention never deleted a segment";
  EXPECT_EQ(w->high, kRecords);
  EXPECT_LT(w->low, w->high) << "the active segment is never deleted";
  const int64_t low = w->low;

  // Reading from the log start gives exactly the retained records.
  HERALD_ASSERT_OK(reader->Assign({{{0, low}}}));
  std::vector<Record> kept = ReadN(*reader, kRecords - low, absl::Seconds(30));
  ASSERT_EQ(kept.size(), static_cast<size_t>(kRecords - low));
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].position.offset, low + static_cast<int64_t>(i));
    EXPECT_EQ(kept[i].value, absl::StrCat(low + static_cast<int64_t>(i), ":", padding));
  }

  // A start before the log start is reported, not silently moved.
  auto stale = NewReader(topic);
  HERALD_ASSERT_OK(stale->Assign({{{0, 0}}}));
  std::vector<Position> out_of_range;
  size_t records = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<Batch> b = stale->Poll(100, absl::Milliseconds(100));
        if (b.ok()) {
          records += b->records.size();
          out_of_range.insert(out_of_range.end(), b->out_of_range.begin(), b->out_of_range.end());
        }
        return !out_of_range.empty();
      },
      absl::Seconds(30), absl::ZeroDuration()));
  EXPECT_EQ(records, 0u);
  EXPECT_EQ(out_of_range.front(), (Position{0, 0}));
}

TEST_F(BrokerTest, TopicIdTellsARecreatedTopicFromTheOld) {
  const std::string topic = NewTopic(2);
  absl::StatusOr<std::string> first = admin_->TopicId(topic, kAdminTimeout);
  HERALD_ASSERT_OK(first);
  EXPECT_EQ(first->size(), 32u);
  EXPECT_NE(*first, std::string(32, '0'));
  EXPECT_EQ(*admin_->TopicId(topic, kAdminTimeout), *first);  // stable

  HERALD_ASSERT_OK(admin_->DeleteTopic(topic, kAdminTimeout));
  ASSERT_TRUE(
      WaitFor([&] { return absl::IsNotFound(admin_->TopicId(topic, kAdminTimeout).status()); },
              absl::Seconds(30), absl::Milliseconds(100)));
  HERALD_ASSERT_OK(admin_->EnsureTopic({.name = topic, .partitions = 2}, kAdminTimeout));
  absl::StatusOr<std::string> second = admin_->TopicId(topic, kAdminTimeout);
  HERALD_ASSERT_OK(second);
  EXPECT_NE(*second, *first);

  // Not over anything but PLAINTEXT, and nothing from a closed port.
  auto tls = Admin::Create(
      {.bootstrap_servers = TestBootstrap(), .properties = {{"security.protocol", "SSL"}}});
  if (tls.ok()) {
    EXPECT_EQ((*tls)->TopicId(topic, absl::Seconds(2)).status().code(),
              absl::StatusCode::kUnimplemented);
  }
}

TEST_F(BrokerTest, EnsureTopicIsIdempotentAndRefusesFewerPartitions) {
  const std::string topic = NewTopic(3);
  HERALD_EXPECT_OK(admin_->EnsureTopic({.name = topic, .partitions = 3}, kAdminTimeout));
  HERALD_EXPECT_OK(admin_->EnsureTopic({.name = topic, .partitions = 2}, kAdminTimeout));
  absl::Status more = admin_->EnsureTopic({.name = topic, .partitions = 4}, kAdminTimeout);
  EXPECT_EQ(more.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(more.message(), ::testing::HasSubstr("exists with 3 partitions"));
  EXPECT_EQ(*admin_->PartitionCount(topic, kAdminTimeout), 3);

  HERALD_EXPECT_OK(admin_->DeleteTopic(topic, kAdminTimeout));
  EXPECT_TRUE(WaitFor(
      [&] { return absl::IsNotFound(admin_->PartitionCount(topic, kAdminTimeout).status()); },
      absl::Seconds(30), absl::Milliseconds(100)));
  EXPECT_EQ(admin_->DeleteTopic(UniqueName("never"), kAdminTimeout).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(admin_->EnsureTopic({.name = "bad topic name", .partitions = 1}, kAdminTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> cluster = admin_->ClusterId(kAdminTimeout);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(cluster->size(), 22u);
}

TEST_F(BrokerTest, BadConfigurationIsRefusedWithTheSettingNamed) {
  ClientConfig bad = client_;
  bad.properties["no.such.setting"] = "1";
  absl::StatusOr<std::unique_ptr<Producer>> producer = Producer::Create({.client = bad});
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(producer.status().message(), ::testing::HasSubstr("no.such.setting"));
  EXPECT_EQ(Reader::Create({.client = {.bootstrap_servers = "nohostport"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BrokerTest, OversizedRecordIsRefusedAtProduce) {
  const std::string topic = NewTopic(1);
  auto producer = Producer::Create({.client = client_, .topic = topic, .max_record_bytes = 4096});
  HERALD_ASSERT_OK(producer);
  absl::Status s = (*producer)->Produce("s", std::string(8192, 'x'), {}, [](auto) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ((*producer)->InFlight(), 0);
}

TEST(BrokerDownTest, ProduceFailsWithinBoundedTimeWhenBrokerIsStopped) {
  auto broker = herald::testing::PrivateBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  const ClientConfig client{.bootstrap_servers = (*broker)->bootstrap(), .client_id = "down-test"};
  const std::string topic = "down-test";
  {
    auto admin = Admin::Create(client);
    HERALD_ASSERT_OK(admin);
    HERALD_ASSERT_OK((*admin)->EnsureTopic({.name = topic, .partitions = 1}, kAdminTimeout));
  }
  auto producer =
      Producer::Create({.client = client, .topic = topic, .delivery_timeout = absl::Seconds(3)});
  HERALD_ASSERT_OK(producer);
  HERALD_ASSERT_OK((*producer)->ProduceAndWait("s", "before"));

  HERALD_ASSERT_OK((*broker)->Stop());
  const absl::Time start = absl::Now();
  absl::StatusOr<Position> after = (*producer)->ProduceAndWait("s", "after");
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(after.status()) || absl::IsUnavailable(after.status()))
      << after.status();
  // A hang guard, not a timing assertion: the delivery timeout is 3 s.
  EXPECT_LT(took, absl::Seconds(30));

  auto reader = Reader::Create({.client = client, .topic = topic});
  HERALD_ASSERT_OK(reader);
  EXPECT_FALSE((*reader)->QueryWatermarks(0, absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace herald::broker
