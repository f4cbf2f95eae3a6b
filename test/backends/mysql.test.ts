import { mysqlAdmin } from '../support/server-databases.ts'
import { serverEngineSuite } from '../support/server-engine-suite.ts'

serverEngineSuite('mysql', mysqlAdmin)
