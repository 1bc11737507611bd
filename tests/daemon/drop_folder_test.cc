// The drop folder, polled by hand (DropWatch::kManual) so that no test sleeps: a file is
// processed on the second poll that sees it unchanged.
#include <chrono>

#include "adapters/adapter.h"
#include "daemon_test_support.h"

namespace loyalty::daemon::test {
namespace {

class DropFolderTest : public DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    drop_ = dir_ + "/drop";
    start("drop_dir = \"drop\"\n");
  }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(drop_ + "/" + name, std::ios::binary) << text;
  }
  std::string read(const std::string& path) const {
    std::ifstream in(drop_ + "/" + path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  bool exists(const std::string& path) const { return fs::exists(drop_ + "/" + path); }
  void poll(int times = 1) {
    for (int i = 0; i < times; ++i) {
      daemon_->drop_folder()->poll_once();
    }
  }
  json balance(const std::string& customer) {
    auto out = daemon_->runtime().service().handle(
        R"({"type":"balance.query","id":"q","at":"2026-11-22T10:15:00Z","customer":")" + customer +
        "\"}");
    return json::parse(out.json);
  }

  std::string drop_;
};

TEST_F(DropFolderTest, GoodJsonLinesGoToDoneWithAResult) {
  write("day.jsonl", sale("D1") + "\n" + sale("D2", "card:2", "10.00") + "\n");
  poll();
  EXPECT_TRUE(exists("day.jsonl")) << "seen once: not read yet";
  poll();
  EXPECT_FALSE(exists("day.jsonl"));
  ASSERT_TRUE(exists("done/day.jsonl"));
  const json result = json::parse(read("done/day.jsonl.result.json"));
  EXPECT_EQ(result["ok"], true);
  EXPECT_EQ(result["events"], 2);
  EXPECT_EQ(result["results"][1]["locator"], "line 2");
  EXPECT_EQ(result["results"][0]["response"]["earned"], 45);
  EXPECT_EQ(balance("card:2")["balance"], 5);
  EXPECT_EQ(daemon_->drop_folder()->processed(), 1u);
}

TEST_F(DropFolderTest, OneJsonDocumentMaySpanLines) {
  json pretty = json::parse(sale("P1"));
  write("one.json", pretty.dump(2));
  poll(2);
  ASSERT_TRUE(exists("done/one.json"));
  EXPECT_EQ(json::parse(read("done/one.json.result.json"))["events"], 1);
  EXPECT_EQ(balance("card:4000123")["balance"], 45);
}

TEST_F(DropFolderTest, MalformedXmlIsRejectedWithTheReason) {
  write("bad.xml", "<POSLog><Transaction>");
  poll(2);
  EXPECT_FALSE(exists("bad.xml"));
  ASSERT_TRUE(exists("rejected/bad.xml"));
  const std::string why = read("rejected/bad.xml.error.txt");
  EXPECT_NE(why.find("poslog"), std::string::npos) << why;
  EXPECT_EQ(quarantined(), 1);
}

TEST_F(DropFolderTest, AFileWithNothingAcceptedIsRejected) {
  write("junk.jsonl", "{not json\n{\"type\":\"sale.completed\"}\n");
  poll(2);
  ASSERT_TRUE(exists("rejected/junk.jsonl"));
  const std::string why = read("rejected/junk.jsonl.error.txt");
  EXPECT_NE(why.find("line 1: invalid_json"), std::string::npos) << why;
  EXPECT_NE(why.find("line 2: invalid_event"), std::string::npos) << why;
}

TEST_F(DropFolderTest, AHalfWrittenFileIsNotReadUntilItStopsChanging) {
  const std::string first = sale("H1") + "\n";
  write("growing.jsonl", first);
  poll();
  // The POS appends and the mtime moves: the next poll must not read it.
  std::ofstream(drop_ + "/growing.jsonl", std::ios::app) << sale("H2", "card:2", "10.00") << "\n";
  fs::last_write_time(drop_ + "/growing.jsonl",
                      fs::last_write_time(drop_ + "/growing.jsonl") + std::chrono::seconds(1));
  poll();
  EXPECT_TRUE(exists("growing.jsonl"));
  EXPECT_FALSE(exists("done/growing.jsonl"));
  poll();
  ASSERT_TRUE(exists("done/growing.jsonl"));
  EXPECT_EQ(json::parse(read("done/growing.jsonl.result.json"))["events"], 2);
}

TEST_F(DropFolderTest, NamesBeingWrittenAreLeftAlone) {
  for (const char* name : {".day.jsonl", "day.jsonl.tmp", "day.jsonl.part", "notes.txt"}) {
    write(name, sale("N1") + "\n");
  }
  poll(3);
  for (const char* name : {".day.jsonl", "day.jsonl.tmp", "day.jsonl.part", "notes.txt"}) {
    EXPECT_TRUE(exists(name)) << name;
  }
  EXPECT_EQ(daemon_->drop_folder()->processed(), 0u);
  // The convention: rename when complete.
  fs::rename(drop_ + "/day.jsonl.part", drop_ + "/day.jsonl");
  poll(2);
  EXPECT_TRUE(exists("done/day.jsonl"));
}

TEST_F(DropFolderTest, AFileIsNotProcessedTwiceAcrossARestart) {
  // A bad line makes a second processing visible: it would be quarantined again.
  write("once.jsonl", sale("O1") + "\n{bad\n");
  poll(2);
  ASSERT_TRUE(exists("done/once.jsonl"));
  ASSERT_EQ(quarantined(), 1);
  const auto mtime = fs::last_write_time(drop_ + "/done/once.jsonl");

  // As after a crash between recording the file and moving it: the same file, same
  // name, size and mtime, is back in the folder when the daemon starts again.
  restart();
  fs::copy_file(drop_ + "/done/once.jsonl", drop_ + "/once.jsonl");
  fs::last_write_time(drop_ + "/once.jsonl", mtime);
  poll(2);
  EXPECT_FALSE(exists("once.jsonl"));
  EXPECT_EQ(daemon_->drop_folder()->processed(), 0u);
  EXPECT_EQ(daemon_->drop_folder()->duplicates(), 1u);
  EXPECT_EQ(quarantined(), 1);
  EXPECT_FALSE(exists("done/once-1.jsonl.result.json"));
  EXPECT_TRUE(exists("done/once-1.jsonl"));
  // New content under the same name is a new file.
  write("once.jsonl", sale("O2") + "\n");
  poll(2);
  EXPECT_TRUE(exists("done/once-2.jsonl.result.json"));
  EXPECT_EQ(daemon_->drop_folder()->processed(), 1u);
}

// A symbolic link is left alone: followed, it pulled the file it named (the daemon's token,
// its config) into the quarantine through the error path.
TEST_F(DropFolderTest, ASymbolicLinkIsLeftAlone) {
  std::ofstream(dir_ + "/secret.txt") << "s3cret-token\n";
  fs::create_symlink(dir_ + "/secret.txt", drop_ + "/link.xml");
  poll(3);
  EXPECT_TRUE(fs::is_symlink(drop_ + "/link.xml"));
  EXPECT_FALSE(exists("rejected/link.xml"));
  EXPECT_EQ(quarantined(), 0);
  EXPECT_EQ(daemon_->drop_folder()->processed(), 0u);
}

// A writer that paused longer than two polls and then finished: the half that was read is
// not moved to rejected/ (the complete file sat there beside an error about the half); the
// file is read again, whole, once it is still.
TEST_F(DropFolderTest, AFileThatChangesWhileProcessedIsReadAgainWhole) {
  const std::string first = sale("W1") + "\n";
  write("slow.jsonl", first);
  bool appended = false;
  daemon_->drop_folder()->set_after_read_for_tests([&](const std::string& name) {
    if (appended || name != "slow.jsonl") return;
    appended = true;
    std::ofstream(drop_ + "/slow.jsonl", std::ios::binary | std::ios::app) << sale("W2", "card:2", "10.00") << "\n";
    // A different modification time even on a coarse clock.
    fs::last_write_time(drop_ + "/slow.jsonl", fs::last_write_time(drop_ + "/slow.jsonl") + std::chrono::seconds(1));
  });
  poll(2);
  EXPECT_TRUE(appended);
  EXPECT_TRUE(exists("slow.jsonl")) << "changed while processed: left to be read again";
  EXPECT_FALSE(exists("done/slow.jsonl"));
  poll(2);
  ASSERT_TRUE(exists("done/slow.jsonl"));
  EXPECT_EQ(read("done/slow.jsonl"), first + sale("W2", "card:2", "10.00") + "\n");
  EXPECT_EQ(json::parse(read("done/slow.jsonl.result.json"))["events"], 2);
  EXPECT_EQ(balance("card:2")["balance"], 5);
}

// The processed-files state records modification times since 1970 (file_clock's epoch gave
// negative numbers).
TEST_F(DropFolderTest, TheStateRecordsUnixModificationTimes) {
  write("t.jsonl", sale("M1") + "\n");
  poll(2);
  ASSERT_TRUE(exists("done/t.jsonl"));
  const json state = json::parse(read(".state/processed.json"));
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  bool found = false;
  for (const auto& r : state["files"]) {
    if (r["name"] != "t.jsonl") continue;
    found = true;
    const int64_t mtime = r["mtime_ns"];
    EXPECT_GT(mtime, now_ns - int64_t{3600} * 1'000'000'000) << r.dump();
    EXPECT_LE(mtime, now_ns) << r.dump();
  }
  EXPECT_TRUE(found) << state.dump();
}

// Needs the real POSLog translator (adapters/poslog); skipped while it is a placeholder.
TEST_F(DropFolderTest, GoodPoslogGoesToDone) {
  const char* kPoslog = R"(<?xml version="1.0" encoding="UTF-8"?>
<POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/">
  <Transaction>
    <RetailStoreID>B01</RetailStoreID>
    <WorkstationID>1</WorkstationID>
    <SequenceNumber>123</SequenceNumber>
    <EndDateTime>2026-11-22T10:15:00-06:00</EndDateTime>
    <CurrencyCode>MXN</CurrencyCode>
    <RetailTransaction>
      <LineItem>
        <SequenceNumber>1</SequenceNumber>
        <Sale>
          <ItemID>CAFE-AMER</ItemID>
          <Quantity>2</Quantity>
          <ExtendedAmount>90.00</ExtendedAmount>
        </Sale>
      </LineItem>
      <LineItem>
        <SequenceNumber>2</SequenceNumber>
        <Tender TenderType="Cash">
          <Amount>90.00</Amount>
        </Tender>
      </LineItem>
      <Total TotalType="TransactionGrandAmount">90.00</Total>
      <Customer><CustomerID>4000123</CustomerID></Customer>
    </RetailTransaction>
  </Transaction>
</POSLog>
)";
  auto probe = adapters::find_adapter("poslog")->translate(
      kPoslog, mapping_for(daemon_->runtime().settings(), "poslog"));
  if (!probe.ok() && probe.error().message.find("not yet written") != std::string::npos) {
    GTEST_SKIP() << "the poslog adapter is still a placeholder";
  }
  ASSERT_TRUE(probe.ok()) << probe.error().field << ": " << probe.error().message;
  write("sale.xml", kPoslog);
  poll(2);
  ASSERT_TRUE(exists("done/sale.xml")) << read("rejected/sale.xml.error.txt");
  const json result = json::parse(read("done/sale.xml.result.json"));
  EXPECT_EQ(result["adapter"], "poslog");
  EXPECT_EQ(result["failed"], 0);
}

}  // namespace
}  // namespace loyalty::daemon::test
