from llm_ner.model.rendering import entities_html, entities_page, entity_colour


def test_entities_are_marked_with_their_type_colour():
    fragment = entities_html(["Peter", "Blackburn", "visited", "Brussels"], ["B-PER", "I-PER", "O", "B-LOC"])
    assert fragment.count("<mark") == 2
    assert f"background: {entity_colour('PER')}" in fragment and "Peter Blackburn<span" in fragment
    assert f"background: {entity_colour('LOC')}" in fragment and "Brussels<span" in fragment
    assert " visited " in fragment


def test_orphan_inside_tags_are_rendered_as_entities_and_text_is_escaped():
    fragment = entities_html(["<script>", "x"], ["I-ORG", "O"])
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert fragment.count("<mark") == 1


def test_a_page_holds_every_caption_and_a_legend():
    page = entities_page("Examples", [("first", ["EU"], ["B-ORG"]), ("second & last", ["x"], ["O"])])
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "first" in page and "second &amp; last" in page
    assert page.count("<mark") == 1 + 1  # the one entity, and the legend of the types on the page (ORG)
    assert entity_colour("PER") != entity_colour("LOC") and entity_colour("DRUG") == entity_colour("DRUG")
