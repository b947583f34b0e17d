{{/*
The driftmon container, for any pod spec. Call it with a root-like context:

  containers:
    - name: my-generator
      ...
    {{- include "driftmon.sidecar.container" (dict "Values" .Values.driftmon "Release" .Release) | nindent 4 }}
  volumes:
    {{- include "driftmon.sidecar.volumes" (dict "Values" .Values.driftmon "Release" .Release) | nindent 4 }}

and add the pod settings from "driftmon.sidecar.podSpec" (hostPID, runtimeClassName) if you use NVML's
per-process readings. The ConfigMaps it mounts come from this chart installed in the same release.
*/}}
{{- define "driftmon.sidecar.container" -}}
- name: driftmon
  image: {{ include "driftmon.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["--config", "/etc/driftmon/config.yaml"]
  ports:
    - name: http
      containerPort: {{ .Values.port }}
      protocol: TCP
    {{- if (.Values.tap | default dict).enabled }}
    - name: tap
      containerPort: {{ .Values.tap.port }}
      protocol: TCP
    {{- end }}
  env:
    - name: DRIFTMON_POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: DRIFTMON_POD_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    # the GPU series' Hostname label, as dcgm-exporter's (docs/gpu.md)
    - name: NODE_NAME
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    {{- with (include "driftmon.visibleDevices" .) }}
    - name: NVIDIA_VISIBLE_DEVICES
      value: {{ . | quote }}
    {{- end }}
    {{- with .Values.nvml.driverCapabilities }}
    - name: NVIDIA_DRIVER_CAPABILITIES
      value: {{ . | quote }}
    {{- end }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- /* beside a generator (sidecar, include) no probe of driftmon's may gate the pod's readiness
  (the kubelet counts a container ready only after its startup probe succeeded, so both go),
  except the tap's below */}}
  {{- /* with the tap in the path the pod cannot serve without it: ready = the tap listens (answered
  by the tap itself, never the scorer, so model loading and scorer restarts do not gate it) */}}
  {{- if and (ne .Values.mode "standalone") (.Values.tap | default dict).enabled }}
  {{- with .Values.tap.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- if eq .Values.mode "standalone" }}
  {{- with .Values.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- $resources := deepCopy (.Values.resources | default dict) }}
  {{- if gt (int .Values.gpu.count) 0 }}
  {{- $limits := $resources.limits | default dict }}
  {{- $_ := set $limits .Values.gpu.resourceName (int .Values.gpu.count) }}
  {{- $_ := set $resources "limits" $limits }}
  {{- end }}
  {{- with $resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: driftmon-config
      mountPath: /etc/driftmon/config.yaml
      subPath: config.yaml
      readOnly: true
    - name: driftmon-rules
      mountPath: /etc/driftmon/rules
      readOnly: true
    - name: driftmon-state
      mountPath: /var/lib/driftmon
    - name: driftmon-tmp
      mountPath: /tmp
    {{- range (include "driftmon.secretRefs" . | fromJsonArray) }}
    - name: driftmon-secret-{{ .volume }}
      mountPath: /etc/driftmon/secrets/{{ .volume }}
      readOnly: true
    {{- end }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "driftmon.sidecar.volumes" -}}
{{- $fullname := include "driftmon.fullname" . -}}
- name: driftmon-config
  configMap:
    name: {{ $fullname }}-config
- name: driftmon-rules
  configMap:
    name: {{ include "driftmon.rulesConfigMapName" . }}
- name: driftmon-state
  {{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim | default (printf "%s-state" $fullname) }}
  {{- else }}
  emptyDir:
    {{- with .Values.persistence.emptyDirSizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
  {{- end }}
- name: driftmon-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 256Mi
{{- range (include "driftmon.secretRefs" . | fromJsonArray) }}
- name: driftmon-secret-{{ .volume }}
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
NVIDIA_VISIBLE_DEVICES for the driftmon container: nvml.visibleDevices when set; else, without a GPU
request, "void", because the CUDA base image says "all" and a runtime that honours the variable
would otherwise hand every GPU on the node to a container that asked for none; else nothing (the
device plugin sets it to the GPUs it allocated).
*/}}
{{- define "driftmon.visibleDevices" -}}
{{- if .Values.nvml.visibleDevices -}}
{{- .Values.nvml.visibleDevices -}}
{{- else if eq (int .Values.gpu.count) 0 -}}
void
{{- end -}}
{{- end -}}

{{/*
driftmon's shutdown grace in seconds: config.server.shutdown_grace (seconds, or a duration such
as 45s or 1m30s), else driftmon's default of 20.
*/}}
{{- define "driftmon.shutdownGrace" -}}
{{- $grace := dig "server" "shutdown_grace" 20 (.Values.config | default dict) -}}
{{- if kindIs "string" $grace -}}
{{- $text := trim $grace -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?$" $text -}}
{{- $grace = float64 $text -}}
{{- else if regexMatch "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$" $text -}}
{{- $units := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $grace = 0.0 -}}
{{- range $part := regexFindAll "[0-9]+(\\.[0-9]+)?(ms|s|m|h)" $text -1 -}}
{{- $unit := regexFind "(ms|s|m|h)$" $part -}}
{{- $grace = addf $grace (mulf (float64 (trimSuffix $unit $part)) (get $units $unit)) -}}
{{- end -}}
{{- else -}}
{{- fail (printf "config.server.shutdown_grace: %q is not a duration (use e.g. 20, 45s, 1m30s)" $text) -}}
{{- end -}}
{{- end -}}
{{- ceil $grace | int -}}
{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds: above driftmon's shutdown grace, so Kubernetes never
SIGKILLs a shutdown that is still within it. terminationGracePeriodSeconds when set (at least
the grace + 5), else the grace + terminationGraceMargin. A parent chart in include mode can use
it for its own pod (taking the larger of it and its generator's need).
*/}}
{{- define "driftmon.terminationGrace" -}}
{{- $grace := include "driftmon.shutdownGrace" . | int -}}
{{- $set := .Values.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- add $grace (.Values.terminationGraceMargin | default 10 | int) -}}
{{- else if lt (int $set) (add $grace 5) -}}
{{- fail (printf "terminationGracePeriodSeconds: %d is too short for config.server.shutdown_grace (%ds): set at least %d, or leave it null to derive it" (int $set) $grace (add $grace 5)) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings driftmon needs: NVML's hostPID trade-off, the GPU RuntimeClass. */}}
{{- define "driftmon.sidecar.podSpec" -}}
{{- if .Values.nvml.hostPID }}
hostPID: true
{{- end }}
{{- with .Values.gpu.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Pod annotations: config checksums (restart on change) and scrape hints without the Operator. */}}
{{- define "driftmon.podAnnotations" -}}
checksum/config: {{ include "driftmon.config" . | sha256sum }}
{{- if and .Files (not .Values.rules.existingConfigMap) }}
checksum/rules: {{ include "driftmon.rulesData" . | sha256sum }}
{{- end }}
{{- if .Values.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The rule files: the shipped defaults (files/rules/) overlaid with .Values.rules.files. */}}
{{- define "driftmon.rulesData" -}}
{{- $files := dict -}}
{{- if .Values.rules.defaults -}}
{{- range $path, $_ := .Files.Glob "files/rules/*.yaml" -}}
{{- $_ := set $files (base $path) ($.Files.Get $path) -}}
{{- end -}}
{{- end -}}
{{- range $name, $text := .Values.rules.files -}}
{{- $_ := set $files $name $text -}}
{{- end -}}
{{- toYaml $files -}}
{{- end -}}
