// Kubernetes metav1.LabelSelector → Calico selector text, exactly as libcalico-go's k8sSelectorToCalico
// (lib/backend/k8s/conversion/conversion.go) writes it, minus the `projectcalico.org/orchestrator == 'k8s'` term
// it puts first for pod selectors (the caller adds it). Upstream quirks kept: values are single-quoted without
// escaping (Kubernetes label values cannot contain quotes), an In/NotIn with no values yields `{ '' }`, and an
// unknown operator adds nothing.
//
// Note for callers: upstream returns "all()" for a *present but empty* namespaceSelector and "" for an absent
// one ("same namespace as the policy"); this function returns "" for both, so the caller must tell them apart.
import type { LabelSelector } from '../resources.js'
import { compareUtf8 } from './sorted-string-set.js'

/** Converts a Kubernetes LabelSelector to Calico selector text; undefined or empty gives "" (matches everything). */
export function k8sLabelSelectorToCalico (selector: LabelSelector | undefined): string {
  if (selector === undefined) return ''
  const terms: string[] = []
  const matchLabels = selector.matchLabels ?? {}
  // Go's sort.Strings orders keys by bytes.
  for (const key of Object.keys(matchLabels).sort(compareUtf8)) {
    terms.push(`${key} == '${matchLabels[key] ?? ''}'`)
  }
  for (const e of selector.matchExpressions ?? []) {
    const valueList = (e.values ?? []).join("', '")
    switch (e.operator) {
      case 'In': terms.push(`${e.key} in { '${valueList}' }`); break
      case 'NotIn': terms.push(`${e.key} not in { '${valueList}' }`); break
      case 'Exists': terms.push(`has(${e.key})`); break
      case 'DoesNotExist': terms.push(`! has(${e.key})`); break
    }
  }
  return terms.join(' && ')
}
