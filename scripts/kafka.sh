#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker + controller in one JVM) for development and tests.
#
#   scripts/kafka.sh start    fetch Kafka with Maven if needed, format storage once, start, wait
#                             (a broker that already answers on the port without our pid file is
#                             reused, and the output says so)
#   scripts/kafka.sh stop     stop the broker started by `start` (success when none runs; exit 1,
#                             stopping nothing, when a broker this script did not start answers)
#   scripts/kafka.sh reset    stop and wipe the data dir (topics, offsets, transactions)
#   scripts/kafka.sh status   exit 0 when the broker answers, 1 otherwise
#
# Everything lives outside the repo, in $WEBSCALE_KAFKA_HOME (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/kafka/<version>): jars in lib/, data in data/
# (kept across restarts; `reset` wipes it), config in config/, logs in logs/.
#
# Settings by environment: KAFKA_VERSION (default below), KAFKA_PORT (19092),
# KAFKA_CONTROLLER_PORT (19093), KAFKA_SASL_PORT (19094), KAFKA_HEAP_OPTS (-Xmx512m -Xms128m),
# KAFKA_START_TIMEOUT (s, 120).
#
# Two client listeners: PLAINTEXT on KAFKA_PORT (no authentication; its anonymous principal is a
# super user, so nothing there is ever refused) and SASL_SSL on KAFKA_SASL_PORT (TLS with a
# certificate of a development CA, SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and unsecured
# OAUTHBEARER: unsigned JWTs whose `sub` is the user, for testing clients, never for production).
# The CA, the certificates and the users' random passwords are made with openssl on the first
# start, in $WEBSCALE_KAFKA_HOME/security/ (never in the repo; without a working openssl the broker
# starts with the PLAINTEXT listener alone, and says so); `client.env` and `client.json`
# there hold what a client needs (brokers, CA file, users) and are what the security tests read.
# Users: `webscale` (an ordinary user) and `admin` (a super user); ACLs are enforced
# (StandardAuthorizer) only on resources that have some, so with none every user may do anything.
#
# Why Maven and not a release tarball: only package registries are reachable from our machines
# and CI, and Maven Central serves the broker as ordinary jars.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-19094}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${WEBSCALE_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/kafka/$KAFKA_VERSION}"
LIB_DIR="$HOME_DIR/lib"
DATA_DIR="$HOME_DIR/data"
CONF_DIR="$HOME_DIR/config"
LOG_DIR="$HOME_DIR/logs"
PID_FILE="$HOME_DIR/kafka.pid"
SEC_DIR="$HOME_DIR/security"

log() { printf 'kafka: %s\n' "$*" >&2; }

pid_alive() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The broker answers a metadata request (not just an open port): ask it with kafkajs, the client
# the pipeline itself uses, so "ready" means ready for us.
broker_answers() {
  (cd "$REPO_DIR" && KAFKA_CHECK_BROKER="127.0.0.1:$KAFKA_PORT" node --input-type=module -e '
    import kafkajs from "kafkajs";
    const kafka = new kafkajs.Kafka({ clientId: "webscale-rl-kafka-sh", brokers: [process.env.KAFKA_CHECK_BROKER],
      logLevel: kafkajs.logLevel.NOTHING, connectionTimeout: 2000, requestTimeout: 3000, retry: { retries: 0 } });
    const admin = kafka.admin();
    try { await admin.connect(); const c = await admin.describeCluster(); if (c.brokers.length < 1) process.exit(1); }
    catch { process.exit(1); } finally { await admin.disconnect().catch(() => {}); }
  ') >/dev/null 2>&1
}

fetch_jars() {
  if [[ -f "$LIB_DIR/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 1; }
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $LIB_DIR"
  rm -rf "$LIB_DIR"
  mkdir -p "$LIB_DIR" "$LOG_DIR"
  if ! mvn -q -B -f "$REPO_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" \
      >"$LOG_DIR/maven.log" 2>&1; then
    log "maven failed, see $LOG_DIR/maven.log"; tail -n 20 "$LOG_DIR/maven.log" >&2; exit 1
  fi
  touch "$LIB_DIR/.complete"
}

# The development CA, the broker's and a client's certificate, and the users' passwords: made once
# per broker home with openssl (kept across restarts so clients' CA files stay valid; `reset`
# keeps them too). Keys are PKCS#8 and encrypted, as Kafka's PEM key store wants them (the
# broker's with PBE-SHA1-3DES: Java 17 cannot read a PBES2-encrypted key).
make_security() {
  if [[ -f "$SEC_DIR/.complete" ]]; then return 0; fi
  # Without openssl the broker still starts, PLAINTEXT only: the security tests then fail, saying so.
  command -v openssl >/dev/null || { log "openssl not found: starting without the SASL_SSL listener (apt-get install openssl)"; return 1; }
  log "making a development CA, certificates and SASL users in $SEC_DIR"
  rm -rf "$SEC_DIR"
  mkdir -p "$SEC_DIR"
  chmod 700 "$SEC_DIR"
  local broker_key_pw client_key_pw
  broker_key_pw="$(openssl rand -hex 16)"
  client_key_pw="$(openssl rand -hex 16)"
  (
    cd "$SEC_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -noenc -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=webscale-rl development CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    for who in broker client; do
      openssl req -newkey rsa:2048 -noenc -keyout "$who.raw.key" -out "$who.csr" -subj "/CN=webscale-rl-$who"
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n' \
        "$([[ $who == broker ]] && echo serverAuth,clientAuth || echo clientAuth)" >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$who.ext" -out "$who.pem"
    done
    openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in broker.raw.key -passout "pass:$broker_key_pw" -out broker.key
    openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.raw.key -passout "pass:$client_key_pw" -out client.key
    cat broker.key broker.pem ca.pem >broker-keystore.pem
    rm -f ./*.raw.key ./*.csr ./*.ext ca.srl
    cat >secrets.env <<EOF
BROKER_KEY_PASSWORD=$broker_key_pw
CLIENT_KEY_PASSWORD=$client_key_pw
WEBSCALE_PASSWORD=$(openssl rand -hex 16)
ADMIN_PASSWORD=$(openssl rand -hex 16)
EOF
    # errexit does not hold inside a subshell on the left of ||: check what was made instead.
    [[ -n "$broker_key_pw" && -n "$client_key_pw" ]] && ! grep -q '=$' secrets.env &&
      openssl x509 -in ca.pem -noout && openssl x509 -in broker.pem -noout && openssl x509 -in client.pem -noout &&
      openssl pkey -in broker.key -passin "pass:$broker_key_pw" -noout &&
      openssl pkey -in client.key -passin "pass:$client_key_pw" -noout && [[ -s broker-keystore.pem ]]
  ) >>"$LOG_DIR/security.log" 2>&1 || { log "making certificates failed, see $LOG_DIR/security.log; starting without the SASL_SSL listener"; tail -n 20 "$LOG_DIR/security.log" >&2; rm -rf "$SEC_DIR"; return 1; }
  touch "$SEC_DIR/.complete"
}

# What a client needs to reach the SASL_SSL listener, for people (client.env, to source) and the
# tests (client.json). Rewritten on every start, since the ports may differ.
write_client_settings() {
  # shellcheck disable=SC1091
  . "$SEC_DIR/secrets.env"
  (
    umask 077
    cat >"$SEC_DIR/client.env" <<EOF
# Generated by scripts/kafka.sh: settings for the development broker's SASL_SSL listener.
# Use with: set -a; . $SEC_DIR/client.env; set +a
KAFKA_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
KAFKA_SECURITY_PROTOCOL=SASL_SSL
KAFKA_SASL_MECHANISM=SCRAM-SHA-512
KAFKA_SASL_USERNAME=webscale
KAFKA_SASL_PASSWORD=$WEBSCALE_PASSWORD
KAFKA_TLS_CA=$SEC_DIR/ca.pem
EOF
    cat >"$SEC_DIR/client.json" <<EOF
{
  "plaintextBrokers": ["127.0.0.1:$KAFKA_PORT"],
  "saslSslBrokers": ["127.0.0.1:$KAFKA_SASL_PORT"],
  "mechanisms": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"],
  "caFile": "$SEC_DIR/ca.pem",
  "clientCertFile": "$SEC_DIR/client.pem",
  "clientKeyFile": "$SEC_DIR/client.key",
  "clientKeyPassword": "$CLIENT_KEY_PASSWORD",
  "users": { "webscale": "$WEBSCALE_PASSWORD", "admin": "$ADMIN_PASSWORD" },
  "superUsers": ["admin"]
}
EOF
  )
}

# SCRAM credentials live in the cluster metadata, so they are set through the running broker (on
# the PLAINTEXT listener, whose principal is a super user). Idempotent.
create_scram_users() {
  [[ -f "$SEC_DIR/.complete" ]] || return 0
  # shellcheck disable=SC1091
  . "$SEC_DIR/secrets.env"
  local opts
  mapfile -t opts < <(java_opts)
  # A failure here leaves the PLAINTEXT listener as it is: only SCRAM logins will be refused.
  if ! java "${opts[@]}" -cp "$LIB_DIR/*" "$REPO_DIR/scripts/KafkaScramUsers.java" "127.0.0.1:$KAFKA_PORT" \
      "webscale=$WEBSCALE_PASSWORD" "admin=$ADMIN_PASSWORD" >>"$LOG_DIR/security.log" 2>&1; then
    log "creating the SCRAM users failed (SCRAM logins will be refused), see $LOG_DIR/security.log"; tail -n 20 "$LOG_DIR/security.log" >&2
  fi
}

# The broker settings of the SASL_SSL listener, ACLs included (printed into server.properties).
sasl_ssl_config() {
  # shellcheck disable=SC1091
  . "$SEC_DIR/secrets.env"
  cat <<EOF
# The SASL_SSL listener (see the top of scripts/kafka.sh). PLAIN users are listed here, SCRAM
# users are created in the cluster metadata after start, OAUTHBEARER takes unsigned tokens.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_webscale="$WEBSCALE_PASSWORD" user_admin="$ADMIN_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$SEC_DIR/broker-keystore.pem
listener.name.sasl_ssl.ssl.key.password=$BROKER_KEY_PASSWORD
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$SEC_DIR/ca.pem
# A client certificate is checked when one is sent (it must be signed by the development CA), not required.
listener.name.sasl_ssl.ssl.client.auth=requested
# ACLs restrict only the resources that have some. The PLAINTEXT listener's anonymous principal
# and admin are super users, so the PLAINTEXT listener works exactly as it would without them.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS;User:admin
EOF
}

write_config() {
  mkdir -p "$CONF_DIR" "$DATA_DIR" "$LOG_DIR"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" protocols="PLAINTEXT:PLAINTEXT" sasl_conf=""
  if make_security; then
    write_client_settings
    listeners="$listeners,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT"
    protocols="$protocols,SASL_SSL:SASL_SSL"
    sasl_conf="$(sasl_ssl_config)"
  else
    rm -f "$SEC_DIR/client.env" "$SEC_DIR/client.json"
  fi
  cat >"$CONF_DIR/server.properties" <<EOF
# Generated by scripts/kafka.sh; edits are overwritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols,CONTROLLER:PLAINTEXT
$sasl_conf
log.dirs=$DATA_DIR
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
default.replication.factor=1
min.insync.replicas=1
num.partitions=1
# Tests join and leave groups constantly; do not wait for more members.
group.initial.rebalance.delay.ms=0
# Topics come from topics/ via \`webscale-rl topics apply\`, never from a typo in a client.
auto.create.topics.enable=false
# Documents can be large: 8 MiB per record batch.
message.max.bytes=8388608
replica.fetch.max.bytes=8388608
# Small machine (2 cores shared with a local LLM).
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.segment.bytes=67108864
log.retention.hours=168
EOF
  cat >"$CONF_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka.sh: the broker logs to files in $LOG_DIR, never to the console. -->
<Configuration status="warn">
  <Appenders>
    <RollingFile name="server" fileName="$LOG_DIR/server.log" filePattern="$LOG_DIR/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
    <Root level="info"><AppenderRef ref="server"/></Root>
  </Loggers>
</Configuration>
EOF
}

java_opts() {
  # shellcheck disable=SC2206
  local heap=($KAFKA_HEAP_OPTS)
  printf '%s\n' "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$CONF_DIR/log4j2.xml" "-Dkafka.logs.dir=$LOG_DIR"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then return 0; fi
  local opts cluster_id
  mapfile -t opts < <(java_opts)
  cluster_id="$(java "${opts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/format.log" | tail -n 1)"
  log "formatting storage in $DATA_DIR (cluster id $cluster_id)"
  java "${opts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$CONF_DIR/server.properties" >>"$LOG_DIR/format.log" 2>&1 \
    || { log "storage format failed, see $LOG_DIR/format.log"; tail -n 20 "$LOG_DIR/format.log" >&2; exit 1; }
}

cmd_start() {
  if pid_alive; then
    if broker_answers; then log "already running (pid $(cat "$PID_FILE")) on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  elif port_open "$KAFKA_PORT"; then
    if broker_answers; then
      # Say it loudly: this broker's settings may not be ours, and `stop` will leave it running.
      log "REUSING a broker this script did not start: one already answers on 127.0.0.1:$KAFKA_PORT and $PID_FILE names no live broker of ours"
      log "'npm run kafka:stop' will not stop it; stop it where it was started, or run ours on other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT)"
      return 0
    fi
    log "port $KAFKA_PORT is taken by something that is not a Kafka broker"; exit 1
  fi
  fetch_jars
  write_config
  format_storage
  if ! pid_alive; then
    local opts
    mapfile -t opts < <(java_opts)
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
    # A new session so the broker outlives the shell (and npm) that started it; the inner bash
    # records its own pid, which `exec` hands over to the JVM.
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
      java "${opts[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$CONF_DIR/server.properties" \
      </dev/null >>"$LOG_DIR/stdout.log" 2>&1 &
  fi
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    sleep 1
    if [[ -f "$PID_FILE" ]] && ! pid_alive; then
      log "the broker exited during start-up; last lines of $LOG_DIR/server.log:"
      tail -n 30 "$LOG_DIR/server.log" >&2 2>/dev/null || tail -n 30 "$LOG_DIR/stdout.log" >&2
      exit 1
    fi
    if port_open "$KAFKA_PORT" && broker_answers; then
      create_scram_users
      log "ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PID_FILE")); logs in $LOG_DIR, data in $DATA_DIR"
      if [[ -f "$SEC_DIR/client.env" ]]; then
        log "SASL_SSL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) on 127.0.0.1:$KAFKA_SASL_PORT; client settings in $SEC_DIR/client.env"
      fi
      return 0
    fi
  done
  log "not ready after ${KAFKA_START_TIMEOUT}s; logs in $LOG_DIR"
  exit 1
}

cmd_stop() {
  if ! pid_alive; then
    rm -f "$PID_FILE"
    if port_open "$KAFKA_PORT" && broker_answers; then
      log "did NOT stop the broker on 127.0.0.1:$KAFKA_PORT: this script did not start it ($PID_FILE names no live broker of ours); stop it where it was started"
      exit 1
    fi
    log "not running"
    return 0
  fi
  local pid
  pid="$(cat "$PID_FILE")"
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  # A controlled shutdown of a single node takes a few seconds; give it 60 before SIGKILL.
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_reset() {
  cmd_stop
  log "wiping $DATA_DIR"
  rm -rf "$DATA_DIR"
}

cmd_status() {
  if broker_answers; then
    log "running on 127.0.0.1:$KAFKA_PORT; logs in $LOG_DIR"
    return 0
  fi
  log "not running"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|reset|status" >&2; exit 2 ;;
esac
