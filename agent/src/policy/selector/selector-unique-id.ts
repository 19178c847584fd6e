// Selector.UniqueID() from ast.go, via libcalico-go lib/hash MakeUniqueID("s", canonical): the prefix, a colon,
// and the unpadded base64url SHA-224 of "s:" + canonical. Felix keys IP sets by this, so it must be exact.
import { createHash } from 'node:crypto'
import type { SelectorNode } from './selector-ast.js'
import { printSelector } from './print-selector.js'

/** Calico's UniqueID() of a selector: "s:" + base64url-nopad(SHA-224("s:" + canonical)). */
export function selectorUniqueId (node: SelectorNode): string {
  return 's:' + createHash('sha224').update('s:' + printSelector(node), 'utf8').digest('base64url')
}
