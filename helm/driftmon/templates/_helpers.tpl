{{/*
Names and labels. Every helper takes a root-like context: a dict with "Values" (driftmon's values)
and "Release", so a parent chart can call them with (dict "Values" .Values.driftmon "Release" .Release).
*/}}
{{- define "driftmon.name" -}}
{{- default "driftmon" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "driftmon.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "driftmon.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "driftmon.version" -}}
{{- $chart := .Chart | default dict -}}
{{- $chart.AppVersion | default "0.1.0" -}}
{{- end -}}

{{- define "driftmon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "driftmon.labels" -}}
{{ include "driftmon.selectorLabels" . }}
app.kubernetes.io/version: {{ include "driftmon.version" . | quote }}
app.kubernetes.io/part-of: driftmon
app.kubernetes.io/managed-by: {{ .Release.Service | default "Helm" }}
{{- with .Chart }}
helm.sh/chart: {{ printf "%s-%s" .Name .Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end -}}

{{- define "driftmon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "driftmon.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image.flavour, or cuda with a GPU request and cpu without; cpu with a GPU request fails. */}}
{{- define "driftmon.imageFlavour" -}}
{{- $gpu := gt (int .Values.gpu.count) 0 -}}
{{- $flavour := .Values.image.flavour | default (ternary "cuda" "cpu" $gpu) -}}
{{- if and $gpu (ne $flavour "cuda") -}}
{{- fail "gpu.count > 0 requests a GPU that only the cuda image uses: set image.flavour=cuda (or leave it empty), or gpu.count=0 for the cpu image" -}}
{{- end -}}
{{- $flavour -}}
{{- end -}}

{{- define "driftmon.image" -}}
{{- $tag := .Values.image.tag | default (printf "%s-%s" (include "driftmon.version" .) (include "driftmon.imageFlavour" .)) -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "driftmon.probeEnabled" -}}
{{- if kindIs "bool" .Values.probe.enabled -}}
{{- .Values.probe.enabled -}}
{{- else -}}
{{- eq .Values.mode "standalone" -}}
{{- end -}}
{{- end -}}

{{- define "driftmon.generatorURL" -}}
{{- if .Values.probe.generator.url -}}
{{- .Values.probe.generator.url -}}
{{- else if eq .Values.mode "sidecar" -}}
{{- printf "http://127.0.0.1:%d" (int .Values.generator.port) -}}
{{- else if eq (include "driftmon.probeEnabled" .) "true" -}}
{{- fail (printf "mode=%s with probes on: set probe.generator.url to the generator's Service URL, e.g. http://sdxl.imagegen.svc.cluster.local:8000" .Values.mode) -}}
{{- end -}}
{{- end -}}

{{/* Where a referenced Secret key is mounted, as a file path. */}}
{{- define "driftmon.secretPath" -}}
{{- printf "/etc/driftmon/secrets/%s/%s" .volume .key -}}
{{- end -}}

{{/*
driftmon's configuration: what the chart derives from its values, with .Values.config merged over it.
*/}}
{{/* The URL users reach driftmon at: publicUrl, else the Ingress host, else the Service. */}}
{{- define "driftmon.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- trimSuffix "/" .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.ingress.tls))) .Values.ingress.host -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d" (include "driftmon.fullname" .) .Release.Namespace (int .Values.service.port) -}}
{{- end -}}
{{- end -}}

{{/* Who pages: alerting.mode, else prometheus when the chart renders the PrometheusRule. */}}
{{- define "driftmon.alertingMode" -}}
{{- .Values.alerting.mode | default (ternary "prometheus" "local" (.Values.prometheusRule.enabled | default false)) -}}
{{- end -}}

{{/* The Grafana dashboard alerts link to (dashboard.url, else its path alone). */}}
{{- define "driftmon.dashboardUrl" -}}
{{- .Values.dashboard.url | default "/d/driftmon-overview/driftmon" | trimSuffix "/" -}}
{{- end -}}

{{- define "driftmon.config" -}}
{{- $probe := dict "enabled" (eq (include "driftmon.probeEnabled" .) "true") "interval" .Values.probe.interval "prompts" "/etc/driftmon/rules/probes.yaml" -}}
{{- $gen := dict "kind" .Values.probe.generator.kind -}}
{{- with (include "driftmon.generatorURL" .) }}{{ $_ := set $gen "url" . }}{{ end -}}
{{- with .Values.probe.generator.model }}{{ $_ := set $gen "model" . }}{{ end -}}
{{- with .Values.probe.generator.modelVersion }}{{ $_ := set $gen "model_version" . }}{{ end -}}
{{- if .Values.probe.apiKeySecret.name -}}
{{- $_ := set $gen "api_key_file" (include "driftmon.secretPath" (dict "volume" "generator-api-key" "key" .Values.probe.apiKeySecret.key)) -}}
{{- end -}}
{{- $_ := set $probe "generator" $gen -}}
{{- $server := dict "host" "0.0.0.0" "port" (int .Values.port) "public_url" (include "driftmon.publicUrl" .) -}}
{{- if .Values.authTokenSecret.name -}}
{{- $_ := set $server "auth_token_file" (include "driftmon.secretPath" (dict "volume" "auth-token" "key" .Values.authTokenSecret.key)) -}}
{{- end -}}
{{- $receivers := list -}}
{{- range $i, $r := .Values.alerting.receivers -}}
{{- $out := omit $r "secret" -}}
{{- with $r.secret -}}
{{- $path := include "driftmon.secretPath" (dict "volume" (printf "receiver-%d" $i) "key" .key) -}}
{{- if eq $r.kind "pagerduty" -}}
{{- $_ := set $out "routing_key_file" $path -}}
{{- else -}}
{{- $_ := set $out "url_file" $path -}}
{{- end -}}
{{- end -}}
{{- $receivers = append $receivers $out -}}
{{- end -}}
{{- $sources := dict "push" (dict "enabled" true) "probe" $probe -}}
{{- $tap := .Values.tap | default dict -}}
{{- if $tap.enabled -}}
{{- $_ := set $sources "tap" (dict "enabled" true "listen" (printf "0.0.0.0:%d" (int $tap.port)) "upstream" (printf "http://127.0.0.1:%d" (int .Values.generator.port)) "sample_ratio" $tap.sampleRatio) -}}
{{- end -}}
{{- $device := ternary "cuda" "cpu" (gt (int .Values.gpu.count) 0) -}}
{{- $config := dict
  "server" $server
  "store" (dict "path" "/var/lib/driftmon/driftmon.db")
  "artifacts" (dict "dir" "/var/lib/driftmon/artifacts")
  "sources" $sources
  "scoring" (dict "device" $device "work_dir" "/var/lib/driftmon/ocr")
  "rules" (dict "paths" (list "/etc/driftmon/rules/"))
  "alerting" (dict "mode" (include "driftmon.alertingMode" .) "resend_delay" .Values.alerting.resendDelay "receivers" $receivers "dashboard_url" (include "driftmon.dashboardUrl" .))
  "logging" (dict "format" "json")
-}}
{{- toYaml (mustMergeOverwrite $config (deepCopy .Values.config)) -}}
{{- end -}}

{{/* Secret-backed volumes: (volume name, secret name, key) for every referenced Secret key. */}}
{{- define "driftmon.secretRefs" -}}
{{- $refs := list -}}
{{- if .Values.authTokenSecret.name -}}
{{- $refs = append $refs (dict "volume" "auth-token" "name" .Values.authTokenSecret.name "key" .Values.authTokenSecret.key) -}}
{{- end -}}
{{- if .Values.probe.apiKeySecret.name -}}
{{- $refs = append $refs (dict "volume" "generator-api-key" "name" .Values.probe.apiKeySecret.name "key" .Values.probe.apiKeySecret.key) -}}
{{- end -}}
{{- range $i, $r := .Values.alerting.receivers -}}
{{- with $r.secret -}}
{{- $refs = append $refs (dict "volume" (printf "receiver-%d" $i) "name" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- toJson $refs -}}
{{- end -}}

{{- define "driftmon.rulesConfigMapName" -}}
{{- .Values.rules.existingConfigMap | default (printf "%s-rules" (include "driftmon.fullname" .)) -}}
{{- end -}}
