// Public API of the Calico selector language: parse, print, hash, compile, cache, and the Kubernetes conversion.
export type {
  AllNode, BooleanNode, GlobalNode, HasNode, NotNode, SelectorNode, SetNode, ValueNode, ValueOperator
} from './selector-ast.js'
export { parseSelector, MAX_NESTING_DEPTH } from './parse-selector.js'
export { printSelector } from './print-selector.js'
export { selectorUniqueId } from './selector-unique-id.js'
export { selectorUsesGlobal, isBareGlobalSelector } from './selector-uses-global.js'
export { compileSelector, type LabelMatcher } from './compile-selector.js'
export {
  SelectorCache, compileSelectorText, DEFAULT_SELECTOR_CACHE_ENTRIES, type CompiledSelector
} from './selector-cache.js'
export { k8sLabelSelectorToCalico } from './k8s-label-selector.js'
export { MAX_LABEL_LENGTH } from './tokenize.js'
