# Shared by the bench scripts: a private Kafka, herald-publisher, herald-fanout
# and herald-edge process(es) on loopback, all stopped on exit. Source it after
# scripts/lib/common.sh, with $preset set.
#
#   mesh_start_backbone          sets $bootstrap, $publisher, $fanout, $fanout_pid
#   mesh_start_edges N [FLAG]... N edge processes sharing one port
#                                (SO_REUSEPORT); sets $edge (host:port) and
#                                $edge_pids (an array)
#   mesh_track PID               stopped on exit too

bin="$HERALD_ROOT/build/$preset/bin"
work="$(mktemp -d)"
pids=()
mesh_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$HERALD_ROOT/scripts/kafka" stop --dir "$work/kafka" --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap mesh_cleanup EXIT

mesh_track() { pids+=("$1"); }

await_ready() {  # name
  for _ in $(seq 1 600); do [ -s "$work/$1.ready" ] && return 0; sleep 0.1; done
  cat "$work/$1.log"; die "$1 did not start"
}
port() { sed -E "s/.*\"$2\": ([0-9]+).*/\\1/" "$work/$1.ready"; }

mesh_start_backbone() {
  "$HERALD_ROOT/scripts/kafka" start --dir "$work/kafka" --port auto --no-topic
  bootstrap="$(cat "$work/kafka/bootstrap")"
  local common=(--kafka_bootstrap="$bootstrap" --topic=herald.bench --partitions=6 --log_level=warn)
  "$bin/herald-publisher" "${common[@]}" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
    --ready_file="$work/publisher.ready" >"$work/publisher.log" 2>&1 &
  pids+=($!)
  "$bin/herald-fanout" "${common[@]}" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
    --ready_file="$work/fanout.ready" >"$work/fanout.log" 2>&1 &
  fanout_pid=$!
  pids+=($!)
  await_ready publisher
  await_ready fanout
  publisher="127.0.0.1:$(port publisher grpc_port)"
  fanout="127.0.0.1:$(port fanout grpc_port)"
}

mesh_start_edges() {  # count [flag]...
  local count="$1"; shift
  local http_port=0
  edge_pids=()
  for i in $(seq 1 "$count"); do
    rm -f "$work/edge$i.ready"  # a restart must not read the last one's
    "$bin/herald-edge" --fanout="$fanout" --http_address="127.0.0.1:$http_port" --log_level=warn \
      --ready_file="$work/edge$i.ready" "$@" >"$work/edge$i.log" 2>&1 &
    edge_pids+=($!)
    pids+=($!)
    await_ready "edge$i"
    # The others bind the first one's port: the kernel spreads connections
    # over every process listening on it.
    http_port="$(port "edge$i" http_port)"
  done
  edge="127.0.0.1:$http_port"
}

machine_line() {
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB;" \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}
