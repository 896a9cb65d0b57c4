import { start } from 'spanforge';
import { Sequelize, DataTypes } from 'sequelize';
import mysql2 from 'mysql2';
import { serve } from './_serve.mjs';

start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
// dialect 'mysql' (the mysql2 driver) against MariaDB: Sequelize's 'mariadb' dialect needs the mariadb
// connector, which has no spanforge integration yet. `dialectModule` as Sequelize's docs say for
// bundlers: it loads the driver with require(variable) otherwise, which no bundler can follow.
const sequelize = new Sequelize('test', 'root', '', { host: '127.0.0.1', port: 3306, dialect: 'mysql', dialectModule: mysql2, logging: false });
const User = sequelize.define('User', { id: { type: DataTypes.INTEGER, primaryKey: true }, name: DataTypes.STRING }, { tableName: table, timestamps: false });

serve({
  setup: async () => {
    await User.sync({ force: true });
    await User.create({ id: 1, name: 'ada' });
  },
  route: async () => {
    const user = await User.findByPk(1);
    const n = await User.count();
    return { user, n };
  },
  teardown: async () => {
    await User.drop();
    await sequelize.close();
  },
});
