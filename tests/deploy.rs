//! The deployment files in `docker/` checked with real tools: the Compose
//! file against the Compose specification (check-jsonschema's vendored
//! schema), the Kubernetes manifests against the Kubernetes API schemas
//! (kubernetes-validate, strict: unknown fields fail), the configuration they
//! carry with `playcast config check`, and the Grafana dashboard's queries
//! against the metrics the service really exposes. `scripts/setup.sh test`
//! installs the validators into `.tools/venv`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str) -> PathBuf {
    let path = common::repo().join(".tools/venv/bin").join(name);
    assert!(path.exists(), "{} is missing: scripts/setup.sh test installs it", path.display());
    path
}

/// Runs `cmd`; (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn docker(file: &str) -> PathBuf {
    common::repo().join("docker").join(file)
}

fn compose_valid(path: &Path) -> (bool, String) {
    run(Command::new(tool("check-jsonschema")).args(["--builtin-schema", "vendor.compose-spec"]).arg(path))
}

fn k8s_valid(paths: &[PathBuf]) -> (bool, String) {
    run(Command::new(tool("kubernetes-validate")).arg("--strict").args(paths))
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let path = docker("compose.yaml");
    let (ok, out) = compose_valid(&path);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    for service in ["node-a:", "node-b:", "postgres:", "redis:", "coturn:", "prometheus:"] {
        assert!(text.contains(&format!("\n  {service}")), "compose has no {service}");
    }
    // The validator is not a rubber stamp: a misspelt key fails it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    std::fs::write(&bad, text.replace("    image: redis:7-bookworm", "    imagee: redis:7-bookworm")).unwrap();
    let (ok, out) = compose_valid(&bad);
    assert!(!ok, "a misspelt key passed: {out}");
}

#[test]
fn the_kubernetes_manifests_follow_the_api_schemas() {
    let dir = docker("k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let (ok, out) = k8s_valid(&files);
    assert!(ok, "{out}");
    for kind in ["configmap/", "daemonset/", "service/", "poddisruptionbudget/"] {
        assert!(out.contains(kind), "no {kind} among the manifests: {out}");
    }
    let scratch = tempfile::tempdir().unwrap();
    let bad = scratch.path().join("deployment.yaml");
    let text = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    std::fs::write(&bad, text.replace("terminationGracePeriodSeconds: 330", "terminationGracePeriodSeconds: soon"))
        .unwrap();
    let (ok, out) = k8s_valid(&[bad]);
    assert!(!ok, "a string grace period passed: {out}");
}

/// The node's pod waits out the drain it configures, and probes real routes.
#[test]
fn the_pod_outlives_its_drain_and_probes_real_routes() {
    let config = std::fs::read_to_string(docker("k8s/configmap.yaml")).unwrap();
    let drain: u64 = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("drain = "))
        .and_then(|v| humantime_serde::re::humantime::parse_duration(v.trim().trim_matches('"')).ok())
        .map(|d| d.as_secs())
        .expect("drain in the ConfigMap");
    let pod = std::fs::read_to_string(docker("k8s/deployment.yaml")).unwrap();
    let grace: u64 = pod
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("terminationGracePeriodSeconds");
    assert!(grace >= drain + 20, "grace {grace} s leaves no time after a {drain} s drain");
    assert!(pod.contains("path: /api/v1/ready") && pod.contains("path: /api/v1/health"), "{pod}");
    assert!(pod.contains("nvidia.com/gpu: 1"), "the pod requests a GPU");
    let compose = std::fs::read_to_string(docker("compose.yaml")).unwrap();
    assert!(compose.contains("stop_grace_period: 330s") && compose.contains("DRAIN: \"5m\""), "{compose}");
}

/// The configuration file the ConfigMap carries passes `playcast config check`.
#[test]
fn the_shipped_configuration_is_valid() {
    let config = std::fs::read_to_string(docker("k8s/configmap.yaml")).unwrap();
    let body: String = config
        .split_once("playcast.toml: |\n")
        .expect("playcast.toml in the ConfigMap")
        .1
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("playcast.toml");
    std::fs::write(&file, &body).unwrap();
    let (ok, out) =
        run(Command::new(env!("CARGO_BIN_EXE_playcast")).arg("--config").arg(&file).args(["config", "check"]));
    assert!(ok, "{out}\n{body}");
    std::fs::write(&file, body.replace("drain = \"5m\"", "drain = 300")).unwrap();
    let (ok, out) =
        run(Command::new(env!("CARGO_BIN_EXE_playcast")).arg("--config").arg(&file).args(["config", "check"]));
    // The answer names the file, the line of `drain` and the setting.
    let line = body.lines().position(|l| l.starts_with("drain")).unwrap() + 1;
    assert!(
        !ok && out.contains(&format!("playcast.toml:{line}: server.drain: invalid type")),
        "a drain without a unit passed: {out}"
    );
}

/// Every series the Grafana dashboard and Prometheus read is one the service exposes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_metrics_the_service_exposes() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docker("grafana/playcast.json")).unwrap()).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let s = common::serve_in_process(|_| {}).await;
    let text = reqwest::get(s.url("/metrics")).await.unwrap().text().await.unwrap();
    let families: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("playcast_") {
            let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            assert!(
                families.contains(&name.as_str()),
                "`{name}` in `{expr}` is not exposed; /metrics has {families:?}"
            );
            rest = &rest[at + name.len()..];
        }
    }
    let prometheus = std::fs::read_to_string(docker("prometheus.yml")).unwrap();
    let compose = std::fs::read_to_string(docker("compose.yaml")).unwrap();
    for port in ["8081", "8082"] {
        assert!(prometheus.contains(&format!("127.0.0.1:{port}")), "Prometheus does not scrape :{port}");
        assert!(compose.contains(&format!("LISTEN: 0.0.0.0:{port}")), "no node listens on :{port}");
    }
}
