import { saveUser } from '../actions';
import SaveButton from './save-button';

export const dynamic = 'force-dynamic';

export default function UsersPage() {
  return (
    <main>
      <h1>Users</h1>
      <SaveButton action={saveUser} />
    </main>
  );
}
