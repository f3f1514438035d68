/**
 * Stand-in for react-inlinesvg in tests. @grafana/ui's Icon renders through it, and the real one
 * fetches each icon's SVG over HTTP (there is no Grafana server in tests) and renders nothing
 * until then, so icons that are buttons (a Combobox's "Clear value") would not exist. This
 * renders the <svg> at once with the props Icon passes (title, role, handlers), like
 * @grafana/create-plugin's jest mock but keeping those props.
 */
import type { ReactNode, Ref, SVGProps } from 'react';

interface Props extends SVGProps<SVGSVGElement> {
  src: string;
  title?: string;
  innerRef?: Ref<SVGSVGElement>;
  loader?: ReactNode;
  onError?: () => void;
  cacheRequests?: boolean;
  uniquifyIDs?: boolean;
}

export default function InlineSVG({
  src,
  title,
  innerRef,
  loader: _loader,
  cacheRequests: _c,
  uniquifyIDs: _u,
  onError: _e,
  ...rest
}: Props) {
  const name = src.replace(/^.*\/(.+)\.svg$/, '$1');
  return (
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" data-icon={name} ref={innerRef} {...rest}>
      {title ? <title>{title}</title> : null}
    </svg>
  );
}
