// Growing the typed arrays that hold hot-path state by column.

/** A copy of `array` with twice the length (the new half zeroed). */
export function doubled<A extends Uint8Array | Int32Array | Float64Array> (array: A): A {
  const grown = new (array.constructor as new (length: number) => A)(array.length * 2)
  grown.set(array)
  return grown
}
