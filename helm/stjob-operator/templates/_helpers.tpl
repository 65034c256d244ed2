{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "stjob.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every object this chart creates. */}}
{{- define "stjob.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stjob.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "stjob.labels" -}}
helm.sh/chart: {{ include "stjob.chart" . }}
{{ include "stjob.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stjob
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "stjob.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stjob.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "stjob.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stjob.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository[:tag][@digest]; the tag defaults to the chart's appVersion. */}}
{{- define "stjob.imageRef" -}}
{{- $image := index . 0 -}}
{{- $appVersion := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $appVersion $image.tag) -}}
{{- end -}}
{{- end }}

{{- define "stjob.operatorImage" -}}
{{- include "stjob.imageRef" (list .Values.image .Chart.AppVersion) -}}
{{- end }}

{{- define "stjob.trainerImage" -}}
{{- include "stjob.imageRef" (list .Values.trainer.image .Chart.AppVersion) -}}
{{- end }}

{{/*
The operator's RBAC rules: exactly the table "Operator RBAC" in docs/contracts.md
(tests/chart/test_rbac.py parses that table and compares), which is what the operator calls
(tests/controller/test_rbac_from_calls.py records its requests and compares both ways), plus what it
must hold to create the trainer's Role (Kubernetes refuses a Role granting more than its creator has).
*/}}
{{- define "stjob.operatorRules" -}}
- apiGroups: ["stjob.dev"]
  resources: ["sentencetransformerjobs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["stjob.dev"]
  resources: ["sentencetransformerjobs/status"]
  verbs: ["get", "patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["configmaps", "serviceaccounts", "services"]
  verbs: ["get", "create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* The leader election Lease: named like the release, in the release namespace. */}}
{{- define "stjob.leaseName" -}}
{{- include "stjob.fullname" . -}}
{{- end }}

{{- define "stjob.metricsServiceName" -}}
{{- printf "%s-metrics" (include "stjob.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
