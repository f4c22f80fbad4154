{{/*
Names, labels and the pod pieces every workload of the chart shares.
*/}}

{{- define "soma-memory.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride, else the release name when it holds the chart name, else <release>-<name>. */}}
{{- define "soma-memory.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "soma-memory.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "soma-memory.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component (api, relay, consumer, migrate, backup): stable across upgrades. */}}
{{- define "soma-memory.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "soma-memory.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "soma-memory.labels" -}}
app.kubernetes.io/name: {{ include "soma-memory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: somastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "soma-memory.chart" . }}
soma.sh/mode: {{ .Values.mode }}
{{- end -}}

{{/* The onboarding contract's names: <namespace>-settings and <namespace>-runtime unless set. */}}
{{- define "soma-memory.settingsConfigMap" -}}
{{- .Values.contract.settingsConfigMap | default (printf "%s-settings" .Release.Namespace) -}}
{{- end -}}
{{- define "soma-memory.runtimeSecret" -}}
{{- .Values.contract.runtimeSecret | default (printf "%s-runtime" .Release.Namespace) -}}
{{- end -}}
{{- define "soma-memory.serviceAccount" -}}
{{- .Values.serviceAccountName | default (printf "%s-sa" .Release.Namespace) -}}
{{- end -}}

{{- define "soma-memory.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository ($img.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Pod Security `restricted`: pod level. */}}
{{- define "soma-memory.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod Security `restricted`: container level, plus a read-only root filesystem. */}}
{{- define "soma-memory.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The contract (envFrom) for every memory container; `optional: false`, so a pod of an
     app namespace that was never onboarded fails visibly (CreateContainerConfigError). */}}
{{- define "soma-memory.envFrom" -}}
- configMapRef:
    name: {{ include "soma-memory.settingsConfigMap" . }}
- secretRef:
    name: {{ include "soma-memory.runtimeSecret" . }}
{{- end -}}

{{/* Settings beyond the onboarding ConfigMap: contract extras per mode and SOMA_MEMORY_*. */}}
{{- define "soma-memory.env" -}}
{{- $c := .Values.contract }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ $c.kafka.replicationFactor | quote }}
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ $c.kafka.partitions | quote }}
{{- if $c.kafka.securityProtocol }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $c.kafka.securityProtocol | quote }}
{{- end }}
{{- if $c.kafka.saslMechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $c.kafka.saslMechanism | quote }}
{{- end }}
- name: KAFKA_SASL_USERNAME
  value: {{ $c.kafka.saslUsername | default .Release.Namespace | quote }}
{{- if $c.kafka.caFile }}
- name: KAFKA_SSL_CA_LOCATION
  value: {{ $c.kafka.caFile | quote }}
{{- end }}
{{- if $c.postgres.sslmode }}
- name: POSTGRES_SSLMODE
  value: {{ $c.postgres.sslmode | quote }}
{{- end }}
{{- if $c.postgres.caFile }}
- name: POSTGRES_SSLROOTCERT
  value: {{ $c.postgres.caFile | quote }}
{{- end }}
- name: SOMA_MEMORY_TOKENS_FILE
  value: /etc/soma/tokens/tokens.json
- name: SOMA_MEMORY_DIM
  value: {{ .Values.memory.dim | quote }}
- name: SOMA_MEMORY_LOG_LEVEL
  value: {{ .Values.memory.logLevel | quote }}
- name: NUMBA_CACHE_DIR
  value: /tmp/numba
{{- range $name, $value := .Values.memory.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "soma-memory.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: tokens
  mountPath: /etc/soma/tokens
  readOnly: true
{{- if .Values.contract.caSecret }}
- name: ca
  mountPath: /etc/soma/ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "soma-memory.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: tokens
  secret:
    secretName: {{ .Values.auth.tokensSecret | default (printf "%s-tokens" (include "soma-memory.fullname" .)) }}
{{- if .Values.contract.caSecret }}
- name: ca
  secret:
    secretName: {{ .Values.contract.caSecret }}
{{- end }}
{{- end -}}
