// The Helm chart: lint, render with the default and a production-like
// configuration, validate every manifest offline against the Kubernetes 1.30
// schemas, and check that values.schema.json refuses bad values. The
// operator's kit: the Grafana dashboard's ConfigMap and the PrometheusRule,
// and the alert rules checked and unit-tested by promtool.
//
// Needs helm, kubernetes-validate and promtool (scripts/setup installs them;
// HERALD_HELM, HERALD_KUBERNETES_VALIDATE and HERALD_PROMTOOL override where
// they are found).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/process.h"

namespace herald::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Tool(const char* env, const std::string& name, const std::string& cached) {
  if (const char* path = std::getenv(env); path != nullptr && *path != '\0') return path;
  if (std::string found = FindProgram(name); !found.empty()) return found;
  const char* home = std::getenv("HOME");
  const std::string path = absl::StrCat(home != nullptr ? home : "", cached);
  return std::filesystem::exists(path) ? path : "";
}

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    helm_ = Tool("HERALD_HELM", "helm", "/.cache/herald/bin/helm");
    validate_ = Tool("HERALD_KUBERNETES_VALIDATE", "kubernetes-validate",
                     "/.cache/herald/venv/bin/kubernetes-validate");
    ASSERT_FALSE(helm_.empty()) << "helm not found: run scripts/setup";
    ASSERT_FALSE(validate_.empty()) << "kubernetes-validate not found: run scripts/setup";
    // Only the alert rules' test needs it, and says so when it is missing.
    promtool_ = Tool("HERALD_PROMTOOL", "promtool", "/.cache/herald/bin/promtool");
    chart_ = HeraldSource("charts/herald");
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("herald-chart-", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CommandResult Template(const std::string& args) {
    return RunCommand(absl::StrCat(helm_, " template herald ", chart_,
                                   " --kube-version 1.30.0 --namespace herald ", args));
  }

  // Renders, writes the manifests to a file and validates them offline.
  std::string RenderAndValidate(const std::string& args, const std::string& name) {
    CommandResult rendered = Template(args);
    EXPECT_EQ(rendered.exit_code, 0) << rendered.output;
    const std::string file = (dir_ / (name + ".yaml")).string();
    std::ofstream(file) << rendered.output;
    CommandResult valid = RunCommand(absl::StrCat(validate_, " --strict -k 1.30.0 ", file));
    EXPECT_EQ(valid.exit_code, 0) << valid.output;
    EXPECT_THAT(valid.output, Not(HasSubstr("ERROR"))) << valid.output;
    // Every manifest had a schema, except the Prometheus Operator's
    // ServiceMonitor and PrometheusRule (CRDs, not part of Kubernetes' schemas).
    for (absl::string_view line : absl::StrSplit(valid.output, '\n')) {
      if (line.empty() || absl::StartsWith(line, "INFO ")) continue;
      EXPECT_THAT(std::string(line),
                  AnyOf(HasSubstr("kind ServiceMonitor"), HasSubstr("kind PrometheusRule")))
          << valid.output;
    }
    return rendered.output;
  }

  static int Count(const std::string& manifests, const std::string& kind) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(manifests, '\n')) {
      if (line == absl::StrCat("kind: ", kind)) ++n;
    }
    return n;
  }

  std::string helm_, validate_, promtool_, chart_;
  std::filesystem::path dir_;
};

TEST_F(ChartTest, LintsStrictly) {
  CommandResult lint = RunCommand(absl::StrCat(helm_, " lint --strict ", chart_));
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  CommandResult production = RunCommand(
      absl::StrCat(helm_, " lint --strict ", chart_, " -f ", chart_, "/ci/production-values.yaml"));
  EXPECT_EQ(production.exit_code, 0) << production.output;
  CommandResult https =
      RunCommand(absl::StrCat(helm_, " lint --strict ", chart_,
                              " --set edge.tls.enabled=true,edge.tls.secretName=x,"
                              "edge.h2c.enabled=true"));
  EXPECT_EQ(https.exit_code, 0) << https.output;
  CommandResult kit = RunCommand(absl::StrCat(helm_, " lint --strict ", chart_,
                                              " --set grafanaDashboard.enabled=true,"
                                              "prometheusRule.enabled=true"));
  EXPECT_EQ(kit.exit_code, 0) << kit.output;
}

TEST_F(ChartTest, DefaultValuesRenderValidManifests) {
  const std::string out = RenderAndValidate("", "default");
  EXPECT_EQ(Count(out, "Deployment"), 6);  // publisher, fanout, edge, 3 demo services
  EXPECT_EQ(Count(out, "Service"), 4);
  EXPECT_EQ(Count(out, "HorizontalPodAutoscaler"), 1);
  EXPECT_EQ(Count(out, "PodDisruptionBudget"), 3);
  EXPECT_EQ(Count(out, "NetworkPolicy"), 4);
  EXPECT_EQ(Count(out, "Ingress"), 0);
  EXPECT_EQ(Count(out, "ServiceMonitor"), 0);
  EXPECT_THAT(out, HasSubstr("grpc:\n              port: 7001"));
  EXPECT_THAT(out, HasSubstr("path: /readyz"));
  EXPECT_THAT(out, HasSubstr("--rpc_routes=herald.demo.v1.Orders=herald-demo-orders:7003"));
  EXPECT_THAT(out, HasSubstr("terminationGracePeriodSeconds: 35"));  // drain 20 + 15
  EXPECT_THAT(out, HasSubstr("--kafka_bootstrap=kafka:9092"));
  EXPECT_THAT(out, HasSubstr("--static_dir=/usr/local/share/herald/dashboard"));
  EXPECT_THAT(out, HasSubstr("--edge_metrics=http://herald-edge:80/metrics"));
}

TEST_F(ChartTest, ProductionValuesRenderValidManifests) {
  const std::string out =
      RenderAndValidate(absl::StrCat("-f ", chart_, "/ci/production-values.yaml"), "production");
  EXPECT_EQ(Count(out, "Deployment"), 3);  // no demo
  EXPECT_EQ(Count(out, "Ingress"), 1);
  EXPECT_EQ(Count(out, "ServiceMonitor"), 3);
  EXPECT_EQ(Count(out, "PrometheusRule"), 1);
  EXPECT_EQ(Count(out, "Secret"), 0);  // existingSecret
  EXPECT_THAT(out, HasSubstr(R"(nginx.ingress.kubernetes.io/proxy-buffering: "off")"));
  EXPECT_THAT(out, HasSubstr(R"(nginx.ingress.kubernetes.io/proxy-read-timeout: "3600")"));
  EXPECT_THAT(out, HasSubstr("terminationGracePeriodSeconds: 45"));
  EXPECT_THAT(out, HasSubstr("--jwt_rs256_public_key_file=/etc/herald/auth/rs256.pem"));
  EXPECT_THAT(out, HasSubstr("secretName: herald-jwt"));
  EXPECT_THAT(out, HasSubstr("--descriptor_set=/etc/herald/types/herald.pb"));
  EXPECT_THAT(out, HasSubstr("--rpc_routes=shop.v1.Cart=cart.shop.svc:7000;timeout=2s"));
  EXPECT_THAT(out, HasSubstr("maxReplicas: 30"));
}

TEST_F(ChartTest, SchemaRejectsBadValues) {
  struct Case {
    std::string set;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {"--set edge.drainSeconds=-5", "drainSeconds"},
           {"--set kafka.bootstrap=", "bootstrap"},
           {"--set kafka.bootstrap=no-port", "bootstrap"},
           {"--set publisher.replicas=0", "replicas"},
           {"--set edge.colour=red", "colour"},
           {"--set auth.hs256Secret=short", "hs256Secret"},
           {"--set image.pullPolicy=Sometimes", "pullPolicy"},
           {"--set-string edge.port=http", "port"},
           {"--set edge.tls.enabled=true", "secretName"},  // TLS without a certificate
           {"--set edge.h2.maxConcurrentStreams=0", "maxConcurrentStreams"},
           {"--set ingress.enabled=true,ingress.tlsPassthrough=true", "edge.tls.enabled"},
           {"--set grafanaDashboard.folder=Herald", "folder"},
           {"--set-string prometheusRule.enabled=yes", "enabled"},
       }) {
    CommandResult r = Template(c.set);
    EXPECT_NE(r.exit_code, 0) << c.set << " was accepted";
    EXPECT_THAT(r.output, HasSubstr("values don't meet the specifications of the schema"))
        << c.set << "\n"
        << r.output;
    EXPECT_THAT(r.output, HasSubstr(c.names)) << c.set << "\n" << r.output;
  }
}

TEST_F(ChartTest, AnInlineSecretIsMountedOnlyWhenGiven) {
  const std::string with = RenderAndValidate(
      "--set auth.hs256Secret=0123456789abcdef0123456789abcdef-secret", "inline-secret");
  EXPECT_EQ(Count(with, "Secret"), 1);
  EXPECT_THAT(with, HasSubstr("--jwt_hs256_secret_file=/etc/herald/auth/hs256.secret"));
  EXPECT_THAT(with, Not(HasSubstr("--jwt_rs256_public_key_file")));
  // Without a key, no auth flags at all (the edge runs with auth off and says so).
  const std::string without = RenderAndValidate("", "no-secret");
  EXPECT_EQ(Count(without, "Secret"), 0);
  EXPECT_THAT(without, Not(HasSubstr("--jwt_")));
}

TEST_F(ChartTest, HttpsAndH2cAreServedOnlyWhenEnabled) {
  const std::string on = RenderAndValidate(
      "--set edge.tls.enabled=true,edge.tls.secretName=x,edge.h2c.enabled=true", "https-h2c");
  // The flags: HTTPS with the Secret's files, h2c, the HTTP/2 limits.
  EXPECT_THAT(on, HasSubstr("--https_address=0.0.0.0:8443"));
  EXPECT_THAT(on, HasSubstr("--tls_cert_file=/etc/herald/tls/tls.crt"));
  EXPECT_THAT(on, HasSubstr("--tls_key_file=/etc/herald/tls/tls.key"));
  EXPECT_THAT(on, HasSubstr("--h2c_address=0.0.0.0:8081"));
  EXPECT_THAT(on, HasSubstr("--h2_max_concurrent_streams=100"));
  EXPECT_THAT(on, HasSubstr("--h2_max_header_bytes=16384"));
  EXPECT_THAT(on, HasSubstr("--h2_idle_timeout=120s"));
  // The Secret, mounted read-only.
  EXPECT_THAT(on, HasSubstr("- name: tls\n"
                            "              mountPath: /etc/herald/tls\n"
                            "              readOnly: true"));
  EXPECT_THAT(on, HasSubstr("- name: tls\n"
                            "          secret:\n"
                            "            secretName: x"));
  // The container's ports, the Service's, and the NetworkPolicy opening them.
  EXPECT_THAT(on, HasSubstr("- name: https\n              containerPort: 8443"));
  EXPECT_THAT(on, HasSubstr("- name: h2c\n              containerPort: 8081"));
  EXPECT_THAT(on, HasSubstr("- name: https\n      port: 443\n      targetPort: https"));
  EXPECT_THAT(on, HasSubstr("- name: h2c\n"
                            "      port: 8081\n"
                            "      targetPort: h2c\n"
                            "      appProtocol: kubernetes.io/h2c"));
  EXPECT_THAT(on, HasSubstr("- port: 8080\n        - port: 8443\n        - port: 8081"));
  // The plain HTTP port, and the probes on it, are as before.
  EXPECT_THAT(on, HasSubstr("--http_address=0.0.0.0:8080"));
  EXPECT_THAT(on, HasSubstr("- name: http\n              containerPort: 8080"));
  EXPECT_THAT(on, HasSubstr("path: /readyz\n              port: http"));
  // Off by default: none of it.
  const std::string off = RenderAndValidate("", "no-https");
  for (const char* absent :
       {"--https_address", "--tls_", "--h2c_address", "--h2_", "/etc/herald/tls", "name: https",
        "name: h2c", "containerPort: 8443", "port: 443", "port: 8081", "kubernetes.io/h2c"}) {
    EXPECT_THAT(off, Not(HasSubstr(absent)));
  }
}

TEST_F(ChartTest, TheIngressPassesTlsThroughToTheEdgeOnlyWhenAsked) {
  const std::string through = RenderAndValidate(
      "--set ingress.enabled=true,ingress.tlsPassthrough=true,"
      "edge.tls.enabled=true,edge.tls.secretName=x",
      "passthrough");
  EXPECT_EQ(Count(through, "Ingress"), 1);
  EXPECT_THAT(through, HasSubstr(R"(nginx.ingress.kubernetes.io/ssl-passthrough: "true")"));
  EXPECT_THAT(through, HasSubstr("port:\n                  name: https"));
  // nginx never sees the requests: no proxy annotations.
  EXPECT_THAT(through, Not(HasSubstr("nginx.ingress.kubernetes.io/proxy-")));
  // HTTPS alone: no h2c.
  EXPECT_THAT(through, Not(HasSubstr("--h2c_address")));
  EXPECT_THAT(through, Not(HasSubstr("- port: 8081")));
  // Terminating at nginx (the default) proxies HTTP/1.1 to the plain port.
  const std::string terminated = RenderAndValidate("--set ingress.enabled=true", "terminated");
  EXPECT_THAT(terminated, HasSubstr("port:\n                  name: http"));
  EXPECT_THAT(terminated, Not(HasSubstr("name: https")));
  EXPECT_THAT(terminated, Not(HasSubstr("ssl-passthrough")));
  EXPECT_THAT(terminated, HasSubstr(R"(nginx.ingress.kubernetes.io/proxy-http-version: "1.1")"));
}

TEST_F(ChartTest, EveryWorkloadRunsNonRootReadOnlyWithoutCapabilitiesUnderSeccomp) {
  // Every Deployment and test Pod of the default, production-like and HTTPS
  // renders; each container of each carries the container settings.
  int workloads = 0;
  for (const std::string& args :
       {std::string(""), absl::StrCat("-f ", chart_, "/ci/production-values.yaml"),
        std::string("--set edge.tls.enabled=true,edge.tls.secretName=x,edge.h2c.enabled=true,"
                    "tests.tokenSecret=t")}) {
    CommandResult rendered = Template(args);
    ASSERT_EQ(rendered.exit_code, 0) << rendered.output;
    for (absl::string_view doc : absl::StrSplit(rendered.output, "\n---\n")) {
      const bool workload =
          absl::StrContains(doc, "\nkind: Deployment\n") || absl::StrContains(doc, "\nkind: Pod\n");
      if (!workload) continue;
      ++workloads;
      const std::string text(doc);
      const std::string name = text.substr(text.find("name: "), 60);
      EXPECT_THAT(text, HasSubstr("runAsNonRoot: true")) << name;
      EXPECT_THAT(text, HasSubstr("runAsUser: 65532")) << name;
      EXPECT_THAT(text, HasSubstr("seccompProfile:\n")) << name;
      EXPECT_THAT(text, HasSubstr("type: RuntimeDefault")) << name;
      // Per container: the image, and each setting of its securityContext.
      int containers = 0, read_only = 0, no_escalation = 0, drop_all = 0;
      for (absl::string_view line : absl::StrSplit(text, '\n')) {
        line = absl::StripLeadingAsciiWhitespace(line);
        if (absl::StartsWith(line, "image: ")) ++containers;
        if (line == "readOnlyRootFilesystem: true") ++read_only;
        if (line == "allowPrivilegeEscalation: false") ++no_escalation;
        if (line == "- ALL") ++drop_all;
      }
      EXPECT_GT(containers, 0) << name;
      EXPECT_EQ(read_only, containers) << name << ": a writable root file system";
      EXPECT_EQ(no_escalation, containers) << name << ": privilege escalation allowed";
      EXPECT_EQ(drop_all, containers) << name << ": capabilities kept";
    }
  }
  // 6 Deployments and 2 test Pods by default, 3 and 2 in production, 6 and 2 with HTTPS.
  EXPECT_EQ(workloads, 8 + 5 + 8);
}

TEST_F(ChartTest, HelmTestChecksReadinessAndARoundTripWithTheImagesHeraldctl) {
  const std::string out = RenderAndValidate("", "helm-test");
  EXPECT_EQ(Count(out, "Pod"), 2);
  EXPECT_THAT(out, HasSubstr("helm.sh/hook: test"));
  EXPECT_THAT(out, HasSubstr("image: \"herald:0.1.0\""));
  EXPECT_THAT(out, HasSubstr("command: [\"heraldctl\"]"));
  EXPECT_THAT(out, HasSubstr("- --round_trip=false"));
  EXPECT_THAT(out, HasSubstr("- --edge=http://herald-edge:80"));
  EXPECT_THAT(out, HasSubstr("- --publisher=herald-publisher:7001"));
  EXPECT_THAT(out, Not(HasSubstr("--token_file")));
  // With auth on, the round trip reads its token from the Secret named.
  const std::string with_token = RenderAndValidate("--set tests.tokenSecret=check-token", "token");
  EXPECT_THAT(with_token, HasSubstr("- --token_file=/etc/herald/test/token"));
  EXPECT_THAT(with_token, HasSubstr("secretName: check-token"));
}

// The text of the block scalar `key: |-` in `manifests`, without its indent.
std::string BlockScalar(const std::string& manifests, const std::string& key, size_t indent) {
  const size_t start = manifests.find(absl::StrCat(key, ": |-\n"));
  if (start == std::string::npos) return "";
  const std::string prefix(indent, ' ');
  std::string text;
  absl::string_view rest = absl::string_view(manifests).substr(manifests.find('\n', start) + 1);
  for (absl::string_view line : absl::StrSplit(rest, '\n')) {
    if (!absl::StartsWith(line, prefix)) break;
    absl::StrAppend(&text, text.empty() ? "" : "\n", line.substr(indent));
  }
  return text;
}

// The names of the alerts of a rule file (`- alert: Name` lines).
std::vector<std::string> AlertNames(const std::string& rules) {
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(rules, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "- alert: ")) names.push_back(std::string(line));
  }
  return names;
}

TEST_F(ChartTest, TheDashboardAndTheAlertsRenderOnlyWhenEnabled) {
  const std::string off = RenderAndValidate("", "no-operator-kit");
  EXPECT_EQ(Count(off, "PrometheusRule"), 0);
  EXPECT_THAT(off, Not(HasSubstr("grafana_dashboard")));

  const std::string on = RenderAndValidate(
      "--set grafanaDashboard.enabled=true,grafanaDashboard.annotations.grafana_folder=Herald,"
      "prometheusRule.enabled=true,prometheusRule.labels.release=kube-prometheus-stack",
      "operator-kit");
  EXPECT_EQ(Count(on, "ConfigMap"), Count(off, "ConfigMap") + 1);
  EXPECT_EQ(Count(on, "PrometheusRule"), 1);
  // The dashboard: a ConfigMap with the sidecar's label and the annotation
  // given, holding dashboards/herald.json as the chart has it (the template
  // refuses to render JSON that does not parse).
  EXPECT_THAT(on, HasSubstr("kind: ConfigMap\nmetadata:\n  name: herald-grafana-dashboard\n"));
  EXPECT_THAT(on, HasSubstr("grafana_dashboard: \"1\""));
  EXPECT_THAT(on, HasSubstr("annotations:\n    grafana_folder: Herald\n"));
  const std::string json = BlockScalar(on, "  herald.json", 4);
  const std::string file = ReadWholeFile(absl::StrCat(chart_, "/dashboards/herald.json"));
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(json, std::string(absl::StripTrailingAsciiWhitespace(file)));
  EXPECT_THAT(json, HasSubstr(R"("uid": "herald")"));
  EXPECT_THAT(json, HasSubstr(R"("title": "Herald")"));
  EXPECT_THAT(json, HasSubstr("label_values(herald_edge_connections, namespace)"));
  // The alerts: a PrometheusRule with the labels given (the Prometheus of
  // kube-prometheus-stack selects rules by `release`) and every alert of
  // rules/alerts.yaml, with its runbook.
  EXPECT_THAT(on, HasSubstr("kind: PrometheusRule\nmetadata:\n  name: herald-alerts\n"));
  EXPECT_THAT(on, HasSubstr("    release: kube-prometheus-stack\n"));
  const std::vector<std::string> alerts =
      AlertNames(ReadWholeFile(absl::StrCat(chart_, "/rules/alerts.yaml")));
  EXPECT_GE(alerts.size(), 6u);
  for (const std::string& alert : alerts) {
    EXPECT_THAT(on, HasSubstr(absl::StrCat("- alert: ", alert, "\n")));
    const std::string runbook =
        absl::StrCat("charts/herald/README.md#", absl::AsciiStrToLower(alert), "\n");
    EXPECT_THAT(on, HasSubstr(runbook)) << alert;
  }
}

TEST_F(ChartTest, TheAlertRulesPassPromtoolsChecksAndUnitTests) {
  ASSERT_FALSE(promtool_.empty()) << "promtool not found: run scripts/setup";
  const std::string rules = absl::StrCat(chart_, "/rules");
  CommandResult check = RunCommand(absl::StrCat(promtool_, " check rules ", rules, "/alerts.yaml"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("SUCCESS")) << check.output;
  CommandResult test =
      RunCommand(absl::StrCat(promtool_, " test rules ", rules, "/alerts_test.yaml"));
  EXPECT_EQ(test.exit_code, 0) << test.output;
  EXPECT_THAT(test.output, HasSubstr("SUCCESS")) << test.output;
  // Every alert is unit-tested and has its runbook in the chart's README.
  const std::string tests = ReadWholeFile(absl::StrCat(rules, "/alerts_test.yaml"));
  const std::string readme = ReadWholeFile(absl::StrCat(chart_, "/README.md"));
  for (const std::string& alert : AlertNames(ReadWholeFile(absl::StrCat(rules, "/alerts.yaml")))) {
    EXPECT_THAT(tests, HasSubstr(absl::StrCat("alertname: ", alert, "\n"))) << alert;
    EXPECT_THAT(readme, HasSubstr(absl::StrCat("\n### ", alert, "\n"))) << alert;
  }
}

}  // namespace
}  // namespace herald::testing
