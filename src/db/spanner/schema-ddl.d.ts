/** `schema.ddl`, imported as text so the compiled binary carries it. */
declare module '*.ddl' {
  const text: string
  export default text
}
