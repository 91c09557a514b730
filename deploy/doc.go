// Package deploy holds Earshot's operator side: the Kubernetes manifests
// (kubernetes/), the compose stack (compose/), the Grafana dashboard and its
// provisioning (grafana/), the Prometheus alerting rules and their unit tests
// (prometheus/) and the Slack app manifest. OPERATE.md explains them.
//
// The package has no code. Its tests prove the files with real tools rather
// than by eye: they parse the Dockerfile and every manifest and check the
// properties the operator relies on; they check every metric the dashboard
// and the alerts use against the metrics contract in DESIGN.md; they run
// `promtool check rules`, `promtool test rules` and `promtool check metrics`;
// and an integration test starts a real Prometheus on loopback scraping a
// live Earshot and runs every dashboard and alert expression through its
// query API. Tests needing prometheus/promtool skip loudly when they are not
// installed, and fail instead when the CI environment variable is "true".
package deploy
