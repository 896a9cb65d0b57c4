'use client';

export default function SaveButton({ action }: { action: (name: string) => Promise<string> }) {
  return <button onClick={() => action('ada').then(console.log)}>save</button>;
}
