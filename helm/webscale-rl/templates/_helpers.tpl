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
{{- toYaml $config -}}
{{- end -}}

{{/* Kafka settings as env, shared by the stage pods and the topics hook Job. */}}
{{- define "webscale-rl.kafkaEnv" -}}
- name: KAFKA_BROKERS
  value: {{ include "webscale-rl.brokers" . | quote }}
- name: WEBSCALE_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
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
