package dev.jdiffusion;

import com.sun.source.doctree.DocCommentTree;
import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.ExportsTree;
import com.sun.source.tree.ModuleTree;
import com.sun.source.tree.RequiresTree;
import com.sun.source.tree.Tree;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TreePath;
import com.sun.source.util.TreePathScanner;
import org.junit.jupiter.api.Test;

import javax.lang.model.element.Modifier;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The module descriptor (src/main/module/module-info.java) and the API it exports: the packages the Javadoc
 * build checks strictly (jdiffusion-core/pom.xml's jdiffusion.api.packages) are exactly the exported ones, the
 * internal packages stay unexported, and every public type of an exported package has a Javadoc comment.
 */
class ModuleDescriptorTest {
    static final Path MODULE_INFO = Path.of("src/main/module/module-info.java");
    static final Path SOURCES = Path.of("src/main/java");

    record Descriptor(String name, Set<String> exports, Set<String> requires) {}

    static Descriptor descriptor() throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        try (StandardJavaFileManager files = javac.getStandardFileManager(null, null, null)) {
            JavacTask task = (JavacTask) javac.getTask(null, files, null, List.of("-proc:none"), null,
                    files.getJavaFileObjects(MODULE_INFO));
            for (CompilationUnitTree unit : task.parse()) {
                ModuleTree module = unit.getModule();
                if (module == null) continue;
                Set<String> exports = new TreeSet<>(), requires = new TreeSet<>();
                module.getDirectives().forEach(d -> {
                    if (d instanceof ExportsTree e) {
                        assertNull(e.getModuleNames(), "no qualified exports: " + e);
                        exports.add(e.getPackageName().toString());
                    }
                    if (d instanceof RequiresTree r) requires.add(r.getModuleName().toString());
                });
                return new Descriptor(module.getName().toString(), exports, requires);
            }
        }
        throw new AssertionError(MODULE_INFO + " declares no module");
    }

    @Test
    void moduleExportsTheApiAndHidesTheEngine() throws IOException {
        Descriptor d = descriptor();
        assertEquals("dev.jdiffusion", d.name());
        assertTrue(d.exports().containsAll(Set.of("dev.jdiffusion.pipelines", "dev.jdiffusion.image")), d.exports().toString());
        for (String internal : List.of("dev.jdiffusion.tensor", "dev.jdiffusion.models.unet", "dev.jdiffusion.io.ckpt"))
            assertFalse(d.exports().contains(internal), internal + " is internal");
        assertTrue(d.requires().contains("jdk.incubator.vector"), "on the module path the Vector API is resolved by requires");
        for (String p : d.exports())
            assertTrue(Files.isDirectory(SOURCES.resolve(p.replace('.', '/'))), "exported package " + p + " exists");
    }

    @Test
    void javadocChecksExactlyTheExportedPackages() throws IOException {
        String pom = Files.readString(Path.of("pom.xml"));
        Matcher m = Pattern.compile("<jdiffusion.api.packages>([^<]*)</jdiffusion.api.packages>").matcher(pom);
        assertTrue(m.find(), "pom.xml sets jdiffusion.api.packages");
        Set<String> strict = new TreeSet<>(List.of(m.group(1).trim().split("\\s*,\\s*")));
        assertEquals(descriptor().exports(), strict,
                "jdiffusion-core/pom.xml's jdiffusion.api.packages must list the packages module-info.java exports");
    }

    @Test
    void everyPublicTypeOfTheExportedApiHasJavadoc() throws IOException {
        List<Path> sources = new ArrayList<>();
        for (String p : descriptor().exports())
            try (Stream<Path> files = Files.list(SOURCES.resolve(p.replace('.', '/')))) {
                files.filter(f -> f.toString().endsWith(".java")).forEach(sources::add);
            }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<String> undocumented = new ArrayList<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(null, null, null)) {
            JavacTask task = (JavacTask) javac.getTask(null, files, null, List.of("-proc:none"), null,
                    files.getJavaFileObjectsFromPaths(sources));
            DocTrees docs = DocTrees.instance(task);
            for (CompilationUnitTree unit : task.parse()) {
                new TreePathScanner<Void, Void>() {
                    @Override
                    public Void visitClass(ClassTree type, Void unused) {
                        Set<Modifier> mods = type.getModifiers().getFlags();
                        boolean interfaceMember = getCurrentPath().getParentPath().getLeaf() instanceof ClassTree outer
                                && (outer.getKind() == Tree.Kind.INTERFACE || outer.getKind() == Tree.Kind.ANNOTATION_TYPE);
                        if (!mods.contains(Modifier.PUBLIC) && !interfaceMember) return null;  // nor its members
                        DocCommentTree doc = docs.getDocCommentTree(getCurrentPath());
                        if (doc == null || doc.getFullBody().isEmpty())
                            undocumented.add(unit.getPackageName() + "." + qualifiedName(getCurrentPath()));
                        return super.visitClass(type, unused);
                    }
                }.scan(unit, null);
            }
        }
        assertEquals(List.of(), undocumented, "public types of exported packages without Javadoc");
    }

    private static String qualifiedName(TreePath path) {
        StringBuilder name = new StringBuilder();
        for (TreePath p = path; p != null; p = p.getParentPath())
            if (p.getLeaf() instanceof ClassTree c) name.insert(0, name.isEmpty() ? c.getSimpleName() : c.getSimpleName() + ".");
        return name.toString();
    }
}
