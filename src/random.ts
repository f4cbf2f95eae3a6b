/** `size` cryptographically random bytes, from Web Crypto: node:crypto would cost memory at start. */
export const randomBytes = (size: number): Buffer => Buffer.from(crypto.getRandomValues(new Uint8Array(size)))
