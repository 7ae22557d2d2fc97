{{/*
Name and label helpers shared by every template. Stage-scoped helpers take a dict
(root = the chart's top-level context, name = the stage name, stage = its values).
*/}}

{{- define "webscale-rl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; stage suffixes are added after it, so keep room for them. */}}
{{- define "webscale-rl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "webscale-rl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webscale-rl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webscale-rl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webscale-rl.labels" -}}
helm.sh/chart: {{ include "webscale-rl.chart" . }}
{{ include "webscale-rl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webscale-rl
{{- end -}}

{{/* Stage helpers: called with (dict "root" $ "name" $name "stage" $stage). */}}
{{- define "webscale-rl.stageFullname" -}}
{{- printf "%s-%s" (include "webscale-rl.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webscale-rl.stageSelectorLabels" -}}
{{ include "webscale-rl.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "webscale-rl.stageLabels" -}}
{{ include "webscale-rl.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Whether the dedup stage runs (then the filter reads docs.unique, else docs.raw). Called with the root context. */}}
{{- define "webscale-rl.dedupEnabled" -}}
{{- if dig "dedup" "enabled" false .Values.stages -}}true{{- end -}}
{{- end -}}

{{/* The topic (without prefix) a stage consumes. Called with (dict "root" $ "name" $name). */}}
{{- define "webscale-rl.inputTopic" -}}
{{- $filterInput := ternary "docs.unique" "docs.raw" (eq (include "webscale-rl.dedupEnabled" .root) "true") -}}
{{- $inputs := dict "dedup" "docs.raw" "filter" $filterInput "identify" "docs.filtered" "generate" "qa.tasks" "check" "qa.candidates" -}}
{{- required (printf "unknown stage %q" .name) (get $inputs .name) -}}
{{- end -}}

{{/* The stage's consumer group: <topicPrefix><stage>, as the worker names it. */}}
{{- define "webscale-rl.consumerGroup" -}}
{{- printf "%s%s" .root.Values.kafka.topicPrefix .name -}}
{{- end -}}

{{- define "webscale-rl.brokers" -}}
{{- join "," .Values.kafka.brokers -}}
{{- end -}}

{{/* "true" when KEDA owns the stage's replica count. */}}
{{- define "webscale-rl.kedaManaged" -}}
{{- if and .root.Values.keda.enabled (ne (toString .stage.autoscale) "false") -}}true{{- end -}}
{{- end -}}

{{- define "webscale-rl.image" -}}
{{- $img := .stage.image | default dict -}}
{{- $repo := $img.repository | default .root.Values.image.repository -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}

{{- define "webscale-rl.imagePullPolicy" -}}
{{- $img := .stage.image | default dict -}}
{{- $img.pullPolicy | default .root.Values.image.pullPolicy -}}
{{- end -}}

{{- define "webscale-rl.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdownGrace) (int .Values.terminationGraceMargin) -}}
{{- end -}}

{{/*
The config file the workers read (WEBSCALE_CONFIG): the user's `config` with the Kafka settings
the chart owns laid over it, so pods, the drain grace and the KEDA triggers agree.
*/}}
{{- define "webscale-rl.config" -}}
{{- $kafka := dict "brokers" .Values.kafka.brokers "topicPrefix" .Values.kafka.topicPrefix "shutdownGrace" (printf "%ds" (int .Values.shutdownGrace)) -}}
{{- if .Values.kafka.schemaRegistryUrl -}}
{{- $_ := set $kafka "schemaRegistryUrl" .Values.kafka.schemaRegistryUrl -}}
{{- end -}}
{{- $config := mustMergeOverwrite (deepCopy (.Values.config | default dict)) (dict "kafka" $kafka) -}}
{{- /* The dedup Deployment and the filter's input topic must agree: stages.dedup.enabled decides. */ -}}
{{- $dedup := dict "enabled" (eq (include "webscale-rl.dedupEnabled" .) "true") -}}
{{- $config = mustMergeOverwrite $config (dict "pipeline" (dict "dedup" $dedup)) -}}
{{- /* The response log's local index lives on its own emptyDir (deployment.yaml), not on /tmp. */ -}}
{{- $config = mustMergeOverwrite $config (dict "llm" (dict "responseLog" (dict "cacheDir" "/var/cache/webscale-rl/responses"))) -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
Kafka settings as env, shared by the stage pods and the topics hook Job: brokers, prefix, and TLS
and SASL (files from the volumes of "webscale-rl.kafkaVolumes", secrets by secretKeyRef).
*/}}
{{- define "webscale-rl.kafkaEnv" -}}
{{- include "webscale-rl.requireKafkaSecurity" . -}}
{{- $k := .Values.kafka -}}
{{- $tls := $k.tls | default dict -}}
{{- $sasl := $k.sasl | default dict -}}
{{- $oauth := $sasl.oauthbearer | default dict -}}
{{- $protocol := $k.securityProtocol | default "PLAINTEXT" -}}
- name: KAFKA_BROKERS
  value: {{ include "webscale-rl.brokers" . | quote }}
- name: WEBSCALE_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $protocol | quote }}
{{- if (dig "ca" "existingSecret" "" $tls) }}
- name: KAFKA_TLS_CA
  value: {{ printf "%s/ca.crt" (include "webscale-rl.kafkaCaDir" .) | quote }}
{{- end }}
{{- with (dig "clientCert" "existingSecret" "" $tls) }}
- name: KAFKA_TLS_CERT
  value: {{ printf "%s/tls.crt" (include "webscale-rl.kafkaClientCertDir" $) | quote }}
- name: KAFKA_TLS_KEY
  value: {{ printf "%s/tls.key" (include "webscale-rl.kafkaClientCertDir" $) | quote }}
{{- if $tls.clientCert.keyPasswordKey }}
- name: KAFKA_TLS_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $tls.clientCert.keyPasswordKey }}
{{- end }}
{{- end }}
{{- if $tls.serverName }}
- name: KAFKA_TLS_SERVER_NAME
  value: {{ $tls.serverName | quote }}
{{- end }}
{{- if $sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $sasl.mechanism | quote }}
{{- end }}
{{- if $sasl.username }}
- name: KAFKA_SASL_USERNAME
  value: {{ $sasl.username | quote }}
{{- else if and $sasl.existingSecret $sasl.usernameKey }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $sasl.existingSecret }}
      key: {{ $sasl.usernameKey }}
{{- end }}
{{- if and $sasl.existingSecret (ne (upper ($sasl.mechanism | default "")) "OAUTHBEARER") }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $sasl.existingSecret }}
      key: {{ $sasl.passwordKey | default "password" }}
{{- end }}
{{- if $oauth.tokenCommand }}
- name: KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND
  value: {{ $oauth.tokenCommand | quote }}
{{- else if (dig "serviceAccountToken" "audience" "" $oauth) }}
- name: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE
  value: {{ printf "%s/token" (include "webscale-rl.kafkaTokenDir" .) | quote }}
{{- else if $oauth.tokenFile }}
- name: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE
  value: {{ $oauth.tokenFile | quote }}
{{- end }}
{{- end -}}

{{/* Where the Kafka certificate Secrets and the projected token are mounted (outside the config mount). */}}
{{- define "webscale-rl.kafkaCaDir" -}}/etc/webscale-rl-kafka/ca{{- end -}}
{{- define "webscale-rl.kafkaClientCertDir" -}}/etc/webscale-rl-kafka/client{{- end -}}
{{- define "webscale-rl.kafkaTokenDir" -}}/var/run/secrets/webscale-rl/kafka{{- end -}}

{{/* Volumes for the Kafka CA, client certificate and OAUTHBEARER token (a list, possibly empty). */}}
{{- define "webscale-rl.kafkaVolumes" -}}
{{- $tls := .Values.kafka.tls | default dict -}}
{{- $sa := dig "oauthbearer" "serviceAccountToken" dict (.Values.kafka.sasl | default dict) -}}
{{- with (dig "ca" "existingSecret" "" $tls) }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $tls.ca.key | default "ca.crt" }}
        path: ca.crt
{{- end }}
{{- with (dig "clientCert" "existingSecret" "" $tls) }}
- name: kafka-client-cert
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $tls.clientCert.certKey | default "tls.crt" }}
        path: tls.crt
      - key: {{ $tls.clientCert.keyKey | default "tls.key" }}
        path: tls.key
{{- end }}
{{- if $sa.audience }}
- name: kafka-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          audience: {{ $sa.audience | quote }}
          expirationSeconds: {{ $sa.expirationSeconds | default 3600 | int }}
          path: token
{{- end }}
{{- end -}}

{{/* Mounts of those volumes, read-only. */}}
{{- define "webscale-rl.kafkaVolumeMounts" -}}
{{- $tls := .Values.kafka.tls | default dict -}}
{{- if (dig "ca" "existingSecret" "" $tls) }}
- name: kafka-ca
  mountPath: {{ include "webscale-rl.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- if (dig "clientCert" "existingSecret" "" $tls) }}
- name: kafka-client-cert
  mountPath: {{ include "webscale-rl.kafkaClientCertDir" . }}
  readOnly: true
{{- end }}
{{- if (dig "oauthbearer" "serviceAccountToken" "audience" "" (.Values.kafka.sasl | default dict)) }}
- name: kafka-token
  mountPath: {{ include "webscale-rl.kafkaTokenDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Refuse Kafka security values that cannot work, with the fix, before anything reaches the cluster
(the worker would refuse them too, but only as a crash-looping pod).
*/}}
{{- define "webscale-rl.requireKafkaSecurity" -}}
{{- $k := .Values.kafka -}}
{{- $protocol := $k.securityProtocol | default "PLAINTEXT" -}}
{{- $tls := $k.tls | default dict -}}
{{- $sasl := $k.sasl | default dict -}}
{{- $oauth := $sasl.oauthbearer | default dict -}}
{{- $mechanism := upper ($sasl.mechanism | default "") -}}
{{- $usesTls := or (eq $protocol "SSL") (eq $protocol "SASL_SSL") -}}
{{- $usesSasl := or (eq $protocol "SASL_SSL") (eq $protocol "SASL_PLAINTEXT") -}}
{{- if and (not $usesTls) (or (dig "ca" "existingSecret" "" $tls) (dig "clientCert" "existingSecret" "" $tls) $tls.serverName) -}}
{{- fail (printf "kafka.tls is set but kafka.securityProtocol is %s, which uses no TLS: set kafka.securityProtocol to SSL or SASL_SSL" $protocol) -}}
{{- end -}}
{{- if and (not $usesSasl) $mechanism -}}
{{- fail (printf "kafka.sasl.mechanism is %s but kafka.securityProtocol is %s: set kafka.securityProtocol to SASL_SSL (or SASL_PLAINTEXT)" $mechanism $protocol) -}}
{{- end -}}
{{- if $usesSasl -}}
{{- if not $mechanism -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER" $protocol) -}}
{{- end -}}
{{- if eq $mechanism "OAUTHBEARER" -}}
{{- if not (or $oauth.tokenCommand $oauth.tokenFile (dig "serviceAccountToken" "audience" "" $oauth)) -}}
{{- fail "kafka.sasl.mechanism OAUTHBEARER needs a token: kafka.sasl.oauthbearer.tokenCommand, .tokenFile or .serviceAccountToken.audience" -}}
{{- end -}}
{{- else -}}
{{- if not $sasl.existingSecret -}}
{{- fail (printf "kafka.sasl.mechanism %s needs kafka.sasl.existingSecret: the Secret holding the password (key kafka.sasl.passwordKey)" $mechanism) -}}
{{- end -}}
{{- if not (or $sasl.username $sasl.usernameKey) -}}
{{- fail (printf "kafka.sasl.mechanism %s needs a user name: kafka.sasl.username, or kafka.sasl.usernameKey in kafka.sasl.existingSecret" $mechanism) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The stage's effective LLM settings (a dict with url, model, modelPath): the stage's values, else
the global `llm` values, else what the pipeline `config` sets (llm.stages.<stage>.*, llm.*,
llm.local.modelPath). Called with (dict "root" $ "name" $name "stage" $stage).
*/}}
{{- define "webscale-rl.stageLlm" -}}
{{- $own := .stage.llm | default dict -}}
{{- $global := .root.Values.llm | default dict -}}
{{- $config := .root.Values.config | default dict -}}
{{- $url := $own.url | default $global.url | default (dig "llm" "stages" .name "url" "" $config) | default (dig "llm" "url" "" $config) -}}
{{- $model := $own.model | default $global.model | default (dig "llm" "stages" .name "model" "" $config) | default (dig "llm" "model" "" $config) -}}
{{- $modelPath := $own.modelPath | default $global.modelPath | default (dig "llm" "local" "modelPath" "" $config) -}}
{{- toYaml (dict "url" $url "model" $model "modelPath" $modelPath) -}}
{{- end -}}

{{/*
Refuse to render a stage that has no LLM. The image ships no model, so a stage with no URL, no
model file and no Hugging Face model would start, find no LLM, and (before the worker's start-up
probe) dead-letter its whole input. Hugging Face Inference Providers need a model id and HF_TOKEN
from existingSecret; the chart cannot see inside the Secret, so the worker's probe checks the token.
*/}}
{{- define "webscale-rl.requireLlm" -}}
{{- if ne .name "dedup" -}}
{{- $llm := include "webscale-rl.stageLlm" . | fromYaml -}}
{{- $hf := and $llm.model .root.Values.existingSecret -}}
{{- if not (or $llm.url $llm.modelPath $hf (include "webscale-rl.fetchesModel" .)) -}}
{{- fail (printf "stage %s has no LLM: set llm.url (an OpenAI-compatible server, e.g. http://vllm:8000/v1), or llm.modelPath (a GGUF file inside the image), or modelFetch.enabled=true (an init container fetches a small GGUF model into the pod), or llm.model with existingSecret holding HF_TOKEN (Hugging Face); per stage under stages.%s.llm. The image ships no model." .name .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Schema Registry credentials (from schemaRegistry.existingSecret, each key optional) and the
mounted CA file, as worker environment variables.
*/}}
{{- define "webscale-rl.schemaRegistryEnv" -}}
{{- $sr := .Values.schemaRegistry | default dict -}}
{{- if $sr.existingSecret }}
- name: WEBSCALE_SCHEMA_REGISTRY_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $sr.existingSecret }}
      key: {{ $sr.secretKeys.username }}
      optional: true
- name: WEBSCALE_SCHEMA_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $sr.existingSecret }}
      key: {{ $sr.secretKeys.password }}
      optional: true
- name: WEBSCALE_SCHEMA_REGISTRY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $sr.existingSecret }}
      key: {{ $sr.secretKeys.token }}
      optional: true
{{- end }}
{{- if $sr.caSecret }}
- name: WEBSCALE_SCHEMA_REGISTRY_CA
  value: /etc/webscale-rl-registry/{{ $sr.caKey }}
{{- end }}
{{- end -}}

{{/*
GGUF file that scripts/model-fetch.mjs writes for each model it knows (keep in step with its
MODELS table; a chart test compares the two).
*/}}
{{- define "webscale-rl.fetchedModelFile" -}}
{{- $files := dict "smollm2-135m" "SmolLM2-135M-Instruct.Q4_1.gguf" "gemma3-270m" "gemma-3-270m-q4_k_m.gguf" -}}
{{- required (printf "modelFetch.model %q: expected one of smollm2-135m, gemma3-270m" .Values.modelFetch.model) (get $files .Values.modelFetch.model) -}}
{{- end -}}

{{/* Where the fetched model lands: model-fetch writes to $XDG_CACHE_HOME/webscale-rl/models/. Called with the root context. */}}
{{- define "webscale-rl.fetchedModelPath" -}}
{{- printf "%s/webscale-rl/models/%s" (trimSuffix "/" .Values.modelFetch.mountPath) (include "webscale-rl.fetchedModelFile" .) -}}
{{- end -}}

{{/*
"true" when the stage runs the model the init container fetches: modelFetch is on, the stage
calls an LLM, and neither a URL nor a model file of its own (or global, or in the config) is set.
Called with (dict "root" $ "name" $name "stage" $stage).
*/}}
{{- define "webscale-rl.fetchesModel" -}}
{{- if and .root.Values.modelFetch.enabled (ne .name "dedup") -}}
{{- $llm := include "webscale-rl.stageLlm" . | fromYaml -}}
{{- if not (or $llm.url $llm.modelPath) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* Image of the model-fetch init container: by default the main image's repository with tag <tag>-model-fetch. */}}
{{- define "webscale-rl.modelFetchImage" -}}
{{- $img := .Values.modelFetch.image | default dict -}}
{{- $repo := $img.repository | default .Values.image.repository -}}
{{- $tag := $img.tag | default (printf "%s-model-fetch" (toString (.Values.image.tag | default .Chart.AppVersion))) -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}
