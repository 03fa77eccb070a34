/**
 * Enough of POSIX shell word splitting to check the command lines in the docs: quotes, backslash
 * escapes and line continuations, comments, and `|`, `||`, `&&`, `;`, `&` between commands.
 * Leading `NAME=value` assignments and redirections are dropped. No expansion: `$NODE` stays a
 * word. A quoted word that looks like a redirection (`'>'`) would be dropped too: rare enough.
 */
const REDIRECT = /^\d*(>>?|<)/
const BARE_REDIRECT = /^\d*(>>?|<)$/

export function shellCommands (script: string): string[][] {
  const commands: string[][] = []
  let words: string[] = []
  let word: string | undefined
  const endWord = (): void => {
    if (word !== undefined) words.push(word)
    word = undefined
  }
  const endCommand = (): void => {
    endWord()
    while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) words.shift()
    // redirections are the shell's, not the command's: `> file`, `2>/dev/null`, `2>&1`
    const args = words.filter((w, i) => !REDIRECT.test(w) && !(i > 0 && BARE_REDIRECT.test(words[i - 1])))
    if (args.length > 0) commands.push(args)
    words = []
  }
  for (let i = 0; i < script.length; i++) {
    const c = script[i]
    if (c === '\\') {
      if (script[i + 1] === '\n') { i++; continue }
      word = (word ?? '') + (script[++i] ?? '')
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1)
      if (end < 0) throw new Error(`unterminated ' in: ${script}`)
      word = (word ?? '') + script.slice(i + 1, end)
      i = end
    } else if (c === '"') {
      let text = ''
      for (i++; i < script.length && script[i] !== '"'; i++) text += script[i] === '\\' && /["\\$`]/.test(script[i + 1] ?? '') ? script[++i] : script[i]
      if (i >= script.length) throw new Error(`unterminated " in: ${script}`)
      word = (word ?? '') + text
    } else if (c === '#' && word === undefined) {
      while (i + 1 < script.length && script[i + 1] !== '\n') i++
    } else if (c === '\n' || c === ';' || c === '|' || c === '&') {
      endCommand()
      if ((c === '|' || c === '&') && script[i + 1] === c) i++
    } else if (c === ' ' || c === '\t') {
      endWord()
    } else {
      word = (word ?? '') + c
    }
  }
  endCommand()
  return commands
}
