// The canonical text of a FlowKey: two keys are the same flow exactly when their texts are equal. The store
// interns this text (one id per distinct key, Goldmane's FlowResult.id is 1:1 with the FlowKey) and the
// collector hashes it for resend deduplication.
import type { FlowKey } from '../flows/flow-log.js'
import type { PolicyHit } from '../policy/policy-hit.js'

// Field order is fixed here, not taken from the object, so keys built by different code paths (wire mapping,
// the agent's own aggregator) produce the same text. \u0001 cannot occur in Kubernetes names.
const SEP = '\u0001'

function hitText (hit: PolicyHit): string {
  const t = hit.trigger
  const trigger = t === undefined ? '' : `${t.kind}/${t.namespace}/${t.tier}/${t.name}`
  return `${hit.kind}/${hit.namespace}/${hit.tier}/${hit.name}/${hit.action}/${hit.policyIndex}/${hit.ruleIndex}/${trigger}`
}

/** The canonical identity text of `key`. */
export function flowKeyIdentity (key: FlowKey): string {
  return [
    key.sourceName, key.sourceNamespace, key.sourceType,
    key.destName, key.destNamespace, key.destType, key.destPort,
    key.destServiceName, key.destServiceNamespace, key.destServicePortName, key.destServicePort,
    key.proto, key.reporter, key.action,
    key.policies.enforced.map(hitText).join('|'),
    key.policies.pending.map(hitText).join('|')
  ].join(SEP)
}
