import type { NodeChanges, NodeRecord } from '../db/tokenserver-types.ts'
import { CONFIG_OPTION, UsageError, type Command, type CommandInput } from './command.ts'
import {
  AdminError,
  countOption,
  flagOption,
  formatTable,
  JSON_OPTION,
  singleArgument,
  runAdminCommand,
  type AdminContext,
} from './tokenserver-admin.ts'

const ACTIONS = ['list', 'add', 'update', 'remove'] as const
type Action = (typeof ACTIONS)[number]

/**
 * `syncserver nodes list|add|update|remove`: the storage nodes users are assigned to
 * (tokenserver.md §12, the reference's add_node / update_node / remove_node tools).
 */
export const nodesCommand: Command = {
  name: 'nodes',
  summary: 'list, add, update or remove the storage nodes the tokenserver assigns users to',
  args: 'list | add <url> | update <url> | remove <url>',
  options: [
    CONFIG_OPTION,
    JSON_OPTION,
    { name: 'capacity', value: 'N', description: 'users the node may hold (add: default init_node_capacity)' },
    { name: 'available', value: 'N', description: 'slots released for new users (add: default capacity × release rate)' },
    { name: 'current-load', value: 'N', description: 'users assigned (update only)' },
    { name: 'downed', value: '0|1', description: '1 takes the node out of service (update only)' },
    { name: 'backoff', value: '0|1', description: '1 stops new assignments (update only)' },
    { name: 'move-to', value: 'URL', description: "give the node a new URL; its users keep their uid and data (update only)" },
  ],
  run(input) {
    return runAdminCommand(input, ACTIONS, async (action, context) => {
      switch (action) {
        case 'list':
          return listNodes(context, input)
        case 'add':
          return addNode(context, input)
        case 'update':
          return updateNode(context, input)
        case 'remove':
          return removeNode(context, input)
      }
    })
  },
}


const NODE_OPTIONS = ['capacity', 'available', 'current-load', 'downed', 'backoff', 'move-to'] as const

async function listNodes(context: AdminContext, input: CommandInput): Promise<number> {
  rejectOptions(input, 'list', NODE_OPTIONS)
  if (input.positionals.length > 1) throw new UsageError(`unexpected arguments: ${input.positionals.slice(1).join(' ')}`)
  const nodes = await context.db.listNodes(context.service)
  printNodes(context, nodes)
  return 0
}

/** A node as printed: the table's column names are the JSON keys too (the database's names). */
const nodeRow = (n: NodeRecord) => ({
  id: n.id,
  node: n.node,
  available: n.available,
  current_load: n.currentLoad,
  capacity: n.capacity,
  downed: Number(n.downed),
  backoff: Number(n.backoff),
})

function printNodes(context: AdminContext, nodes: readonly NodeRecord[], single = false): void {
  const rows = nodes.map(nodeRow)
  context.print(single ? rows[0] : rows, () =>
    formatTable(
      ['id', 'node', 'available', 'current_load', 'capacity', 'downed', 'backoff'],
      rows.map((row) => Object.values(row).map(String)),
    ),
  )
}

async function addNode(context: AdminContext, input: CommandInput): Promise<number> {
  const url = nodeUrl(singleArgument(input, '<url>'))
  rejectOptions(input, 'add', ['current-load', 'downed', 'backoff', 'move-to'])
  const { tokenserver } = context.settings
  const capacity = countOption(input, 'capacity') ?? tokenserver.init_node_capacity
  // §14: the reference's add_node releases one batch of slots up front.
  const available = countOption(input, 'available') ?? Math.ceil(capacity * tokenserver.node_capacity_release_rate)
  checkAvailable(available, capacity)
  const node = { service: context.service, node: url, available, currentLoad: 0, capacity, downed: false, backoff: false }
  const id = await context.db.insertNode(node)
  if (id === null) throw new AdminError(`node ${url} already exists; use \`nodes update\``)
  context.print(nodeRow({ id, ...node }), () => `added node ${id}: ${url} (capacity ${capacity}, available ${available})`)
  return 0
}

async function updateNode(context: AdminContext, input: CommandInput): Promise<number> {
  const url = nodeUrl(singleArgument(input, '<url>'))
  const changes = definedOnly({
    capacity: countOption(input, 'capacity'),
    available: countOption(input, 'available'),
    currentLoad: countOption(input, 'current-load'),
    downed: flagOption(input, 'downed'),
    backoff: flagOption(input, 'backoff'),
    node: input.options['move-to'] === undefined ? undefined : nodeUrl(String(input.options['move-to'])),
  })
  if (Object.keys(changes).length === 0) {
    throw new UsageError('nothing to update: give --capacity, --available, --current-load, --downed, --backoff or --move-to')
  }
  const node = await existingNode(context, url)
  const updated = { ...node, ...changes }
  checkAvailable(updated.available, updated.capacity)
  if (changes.node !== undefined && changes.node !== url && (await context.db.listNodes(context.service)).some((n) => n.node === changes.node)) {
    throw new AdminError(`node ${changes.node} already exists; remove one of the two first`)
  }
  await context.db.updateNode(node.id, changes)
  printNodes(context, [updated], true)
  return 0
}

async function removeNode(context: AdminContext, input: CommandInput): Promise<number> {
  const url = nodeUrl(singleArgument(input, '<url>'))
  const node = await existingNode(context, url)
  await context.db.removeNode({ id: node.id, replacedAt: BigInt(Date.now()) })
  context.print(
    { removed: node },
    () => `removed node ${node.id}: ${url}; its users get a new node (and uid) on their next token request`,
  )
  return 0
}

async function existingNode(context: AdminContext, url: string): Promise<NodeRecord> {
  const node = (await context.db.listNodes(context.service)).find((candidate) => candidate.node === url)
  if (node === undefined) throw new AdminError(`no node ${url}; \`nodes list\` shows them`)
  return node
}

/** Node URLs are origins as clients reach them, stored without a trailing slash. */
function nodeUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`"${text}" is not a URL; expected e.g. https://sync.example.com`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`"${text}" is not an http:// or https:// URL`)
  return text.replace(/\/+$/, '')
}

function checkAvailable(available: number, capacity: number): void {
  if (available > capacity) throw new UsageError(`--available ${available} exceeds the capacity ${capacity}: a node cannot offer more slots than it has`)
}

function rejectOptions(input: CommandInput, action: Action, names: readonly string[]): void {
  const given = names.filter((name) => input.options[name] !== undefined)
  if (given.length > 0) throw new UsageError(`nodes ${action} does not take ${given.map((name) => `--${name}`).join(', ')}`)
}

function definedOnly(changes: { [K in keyof NodeChanges]: NodeChanges[K] | undefined }): NodeChanges {
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined))
}
