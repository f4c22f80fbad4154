{{/*
Names and labels shared by every template of the chart.
*/}}

{{- define "soma-infra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Release-scoped name: fullnameOverride, else the release name when it already contains the
chart name, else <release>-<name>. Truncated to the 63 characters a DNS label allows.
*/}}
{{- define "soma-infra.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "soma-infra.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "soma-infra.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades, so never include versions here. */}}
{{- define "soma-infra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "soma-infra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The recommended app.kubernetes.io/* labels plus the mode the values came from. */}}
{{- define "soma-infra.labels" -}}
{{ include "soma-infra.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: somastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "soma-infra.chart" . }}
soma.sh/mode: {{ .Values.mode }}
{{- end -}}

{{/*
In-cluster DNS name of a service's Service. Called with (list $root "<alias>" "<suffix>"):
the section's fullnameOverride (required by the schema) plus an optional suffix such as
"-pooler", so the endpoints follow the same value the Service is named from.
*/}}
{{- define "soma-infra.serviceHost" -}}
{{- $root := index . 0 -}}
{{- $alias := index . 1 -}}
{{- $suffix := index . 2 -}}
{{- $sub := index $root.Values $alias -}}
{{- printf "%s%s.%s.svc.%s" $sub.fullnameOverride $suffix $root.Release.Namespace $root.Values.endpointsConfigMap.clusterDomain -}}
{{- end -}}

{{/* The names of the enabled subcharts, in Chart.yaml order. */}}
{{- define "soma-infra.enabledServices" -}}
{{- $enabled := list -}}
{{- range $alias := list "postgres" "redis" "kafka" "vault" "opa" "prometheus" "grafana" -}}
{{- if (index $.Values $alias).enabled -}}
{{- $enabled = append $enabled $alias -}}
{{- end -}}
{{- end -}}
{{- join "," $enabled -}}
{{- end -}}
